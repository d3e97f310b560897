/* weirctl: send one command to weir's control socket and print the reply.
 *
 *   weirctl [-s SOCKET] COMMAND [ARGS...]
 *
 * The words are joined with single spaces into one line. The reply is a
 * status line ("OK" or "ERR <reason>"), payload lines and an empty line; the
 * payload goes to stdout. Exit status (INTERFACE.md):
 *   0  OK
 *   1  ERR: the reason is printed on stderr
 *   2  weirctl could not get an answer: the socket cannot be reached, the
 *      reply is malformed, truncated or late, stdout cannot be written; and
 *      usage errors, which are not the daemon's answer either.
 *
 * Plain POSIX on purpose: no libevent, nothing to link but libc. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "weir/config.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_FAIL 2

#define TIMEOUT_MS 30000                /* connect, send and the whole reply */
#define REPLY_MAX (256u * 1024 * 1024)  /* beyond this the reply is not weir's */

static const char *progname = "weirctl";

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: weirctl [-s SOCKET] COMMAND [ARGS...]\n"
	        "  -s, --socket SOCKET  weir's control socket (default: %s)\n"
	        "  -V, --version        print the version and exit\n"
	        "  -h, --help           this help\n"
	        "\n"
	        "\"weirctl help\" lists the commands weir accepts. Exit status: 0 OK,\n"
	        "1 the command was refused (reason on stderr), 2 no usable answer\n"
	        "(socket unreachable, reply malformed or timed out) or a usage error.\n",
	        WEIR_DEFAULT_SOCKET);
}

/* Milliseconds left until DEADLINE (CLOCK_MONOTONIC), at least 0. */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* The command line to send: ARGV joined with single spaces, plus "\n".
 * Returns NULL (with a message printed) when an argument holds a line break,
 * which would smuggle a second command in. Release with free. */
static char *join_command(int argc, char **argv, size_t *len)
{
	size_t n = 1;
	char *line, *p;

	for (int i = 0; i < argc; i++) {
		if (strpbrk(argv[i], "\r\n")) {
			fprintf(stderr, "%s: arguments must not contain line breaks\n", progname);
			return NULL;
		}
		n += strlen(argv[i]) + 1;
	}
	line = malloc(n);
	if (!line) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return NULL;
	}
	p = line;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);
		if (i > 0)
			*p++ = ' ';
		memcpy(p, argv[i], l);
		p += l;
	}
	*p++ = '\n';
	*len = (size_t)(p - line);
	return line;
}

/* Connect to PATH. Returns the socket, or -1 with a message printed. */
static int connect_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { TIMEOUT_MS / 1000, 0 };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: cannot connect to %s: path too long (at most %zu bytes)\n", progname,
		        path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", progname, path, strerror(errno));
		return -1;
	}
	/* A blocking connect to a UNIX socket waits while the listener's
	 * backlog is full; SO_SNDTIMEO bounds that wait. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		fprintf(stderr, "%s: cannot connect to %s: %s\n", progname, path,
		        (e == EAGAIN || e == EINPROGRESS) ? "timed out" : strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait for EVENTS on FD until DEADLINE. Returns 0 when ready, -1 on timeout
 * or error (errno set; ETIMEDOUT for the timeout). */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, ms_left(deadline));
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int send_all(int fd, const char *buf, size_t len, const struct timespec *deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* A reply being read: everything up to and including the first empty line. */
struct reply {
	char *buf;
	size_t len, cap;
	size_t end;                     /* length of the whole reply once complete */
};

/* True once R holds a whole reply. The status line is never empty, so the
 * first "\n\n" is where the reply ends. */
static bool reply_complete(struct reply *r, size_t scanned_from)
{
	size_t from = scanned_from > 0 ? scanned_from - 1 : 0;

	for (size_t i = from; i + 1 < r->len; i++) {
		if (r->buf[i] == '\n' && r->buf[i + 1] == '\n') {
			r->end = i + 2;
			return true;
		}
	}
	return false;
}

/* Read until a whole reply has arrived. Returns 0, or -1 with a message
 * printed (EOF before the end, timeout, error, absurd size). */
static int read_reply(int fd, const char *path, struct reply *r, const struct timespec *deadline)
{
	for (;;) {
		ssize_t n;
		size_t before = r->len;

		if (r->cap - r->len < 4096) {
			size_t cap = r->cap ? r->cap * 2 : 16384;
			char *b;
			if (cap > REPLY_MAX) {
				fprintf(stderr, "%s: reply from %s is too large\n", progname, path);
				return -1;
			}
			b = realloc(r->buf, cap);
			if (!b) {
				fprintf(stderr, "%s: out of memory\n", progname);
				return -1;
			}
			r->buf = b;
			r->cap = cap;
		}
		n = recv(fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
		if (n > 0) {
			r->len += (size_t)n;
			if (reply_complete(r, before))
				return 0;
			continue;
		}
		if (n == 0) {
			fprintf(stderr, "%s: %s closed the connection before the reply was complete\n",
			        progname, path);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && wait_fd(fd, POLLIN, deadline) == 0)
			continue;
		fprintf(stderr, "%s: no reply from %s: %s\n", progname, path,
		        errno == ETIMEDOUT ? "timed out" : strerror(errno));
		return -1;
	}
}

/* Print the reply R and return the exit status it stands for. */
static int handle_reply(const struct reply *r, const char *path)
{
	const char *status = r->buf;
	const char *eol = memchr(status, '\n', r->end);
	size_t slen, plen;
	const char *payload;

	if (!eol)                       /* cannot happen: the reply ends in "\n\n" */
		eol = status + r->end - 1;
	slen = (size_t)(eol - status);
	payload = eol + 1;
	plen = r->end - 1 - (size_t)(payload - r->buf);  /* keeps each line's "\n" */

	if (slen == 2 && memcmp(status, "OK", 2) == 0) {
		if (plen > 0 && fwrite(payload, 1, plen, stdout) != plen) {
			fprintf(stderr, "%s: cannot write the reply: %s\n", progname, strerror(errno));
			return EXIT_FAIL;
		}
		if (fflush(stdout) != 0) {
			fprintf(stderr, "%s: cannot write the reply: %s\n", progname, strerror(errno));
			return EXIT_FAIL;
		}
		return EXIT_OK;
	}
	if (slen >= 3 && memcmp(status, "ERR", 3) == 0 && (slen == 3 || status[3] == ' ')) {
		fprintf(stderr, "%s: ", progname);
		if (slen > 4) {
			/* weir sends one clean line; still, no terminal escapes. */
			for (size_t i = 4; i < slen; i++) {
				unsigned char ch = (unsigned char)status[i];
				fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, stderr);
			}
		} else {
			fputs("command failed", stderr);
		}
		fputc('\n', stderr);
		return EXIT_ERR;
	}
	fprintf(stderr, "%s: malformed reply from %s\n", progname, path);
	return EXIT_FAIL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",  required_argument, NULL, 's' },
		{ "version", no_argument,       NULL, 'V' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = WEIR_DEFAULT_SOCKET;
	struct reply reply = { 0 };
	struct timespec deadline;
	char *line = NULL;
	size_t len = 0;
	int c, fd = -1, rc = EXIT_FAIL;

	opterr = 0;
	/* "+": options end at COMMAND, so "set weight canary -1" reaches weir. */
	while ((c = getopt_long(argc, argv, "+:s:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'V': printf("weirctl %s\n", PACKAGE_VERSION); return EXIT_OK;
		case 'h': usage(stdout); return EXIT_OK;
		case ':':
			fprintf(stderr, "%s: option %s needs an argument\n", progname, argv[optind - 1]);
			usage(stderr);
			return EXIT_FAIL;
		default:
			if (optopt)
				fprintf(stderr, "%s: unknown option -%c\n", progname, optopt);
			else
				fprintf(stderr, "%s: unknown option %s\n", progname, argv[optind - 1]);
			usage(stderr);
			return EXIT_FAIL;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no command given\n", progname);
		usage(stderr);
		return EXIT_FAIL;
	}

	line = join_command(argc - optind, argv + optind, &len);
	if (!line)
		return EXIT_FAIL;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += TIMEOUT_MS / 1000;

	fd = connect_socket(path);
	if (fd < 0)
		goto out;
	if (send_all(fd, line, len, &deadline) < 0) {
		fprintf(stderr, "%s: cannot send to %s: %s\n", progname, path,
		        errno == ETIMEDOUT ? "timed out" : strerror(errno));
		goto out;
	}
	/* Nothing more to say: weir answers, then closes. */
	shutdown(fd, SHUT_WR);
	if (read_reply(fd, path, &reply, &deadline) < 0)
		goto out;
	rc = handle_reply(&reply, path);

out:
	if (fd >= 0)
		close(fd);
	free(reply.buf);
	free(line);
	return rc;
}
