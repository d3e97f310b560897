/* accesslog: per-thread line buffers, handed to one writer thread that owns
 * the file (see include/weir/accesslog.h for the format and the threads).
 *
 * The hand-over keeps one pending buffer under a mutex. A reopen opens the
 * new file in the caller's thread and leaves it, with the pending length at
 * that moment (the bytes that still belong to the old file), for the writer
 * to switch to between two writes; so nothing is written to the new file
 * that was handed over before the reopen. */
#include "weir/accesslog.h"
#include "weir/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_MODE 0640

struct accesslog {
	char *path;
	int fd;                       /* the writer's; the file lines go to now */

	pthread_mutex_t lock;         /* everything below */
	pthread_cond_t wake;          /* to the writer: work, reopen or stop */
	pthread_cond_t done;          /* from the writer: a batch was written */
	char *pending;                /* handed over, not yet taken by the writer */
	size_t pending_len, pending_cap;
	uint64_t pending_lines;
	int next_fd;                  /* reopened file, -1: none */
	size_t next_split;            /* bytes of pending that go to the old file */
	uint64_t split_lines;         /* lines among them */
	uint64_t handed;              /* lines accepted into pending, ever */
	uint64_t finished;            /* lines written or dropped by the writer, ever */
	bool busy;                    /* the writer holds a batch */
	bool stop;
	struct accesslog_stats stats;

	pthread_t thread;
};

/* ---- formatting (pure) ------------------------------------------------------ */

static const char hex[] = "0123456789abcdef";

static bool is_plain(unsigned char ch)
{
	return ch >= '!' && ch <= '~' && ch != '"' && ch != '\\';
}

/* Escape SRC (LEN bytes) into DST (CAP bytes, at least 3). When it does not
 * fit, keep whole characters and end with "...". */
static uint16_t escape_into(char *dst, size_t cap, const char *src, size_t len)
{
	size_t o = 0, i, total = 0, limit;

	for (i = 0; i < len && total <= cap; i++)
		total += is_plain((unsigned char)src[i]) ? 1 : 4;
	limit = total <= cap ? cap : cap - 3;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (is_plain(ch)) {
			if (o + 1 > limit)
				break;
			dst[o++] = (char)ch;
		} else {
			if (o + 4 > limit)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	if (i < len) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	return (uint16_t)o;
}

void accesslog_req_set(struct accesslog_req *r, const char *method, size_t mlen,
                       const char *target, size_t tlen)
{
	r->method_len = escape_into(r->method, sizeof(r->method), method, mlen);
	r->target_len = escape_into(r->target, sizeof(r->target), target, tlen);
}

uint64_t accesslog_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* "2026-11-23T12:00:00." for SEC into OUT (24 bytes): clock.h's timestamp
 * with its 'Z' turned into the point before the milliseconds; false when
 * the year does not have four digits. */
static bool format_second(int64_t sec, char out[24])
{
	char full[32];

	if (clock_format_wall(full, sizeof(full), sec * 1000, false) < 0)
		return false;
	memcpy(out, full, 19);
	out[19] = '.';
	out[20] = '\0';
	return true;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* A string field: "-" when NULL or empty; cut at ACCESSLOG_ADDR_MAX and
 * escaped like a target (addresses never need it: this is a guard). */
static char *put_field(char *p, const char *s)
{
	if (!s || !*s)
		return put(p, "-", 1);
	return p + escape_into(p, ACCESSLOG_ADDR_MAX, s, strnlen(s, ACCESSLOG_ADDR_MAX));
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* The line for E, with the second's text taken from (and kept in) the cache
 * *CSEC / TBUF, so a busy thread formats a date once a second. OUT has room
 * for ACCESSLOG_LINE_MAX bytes. */
static size_t format_line(const struct accesslog_entry *e, char *out, int64_t *csec,
                          char tbuf[24])
{
	int64_t sec = (int64_t)(e->time_us / 1000000u);
	unsigned ms = (unsigned)(e->time_us % 1000000u / 1000u);
	char *p = out;

	if (sec != *csec) {
		if (format_second(sec, tbuf))
			*csec = sec;
		else
			tbuf[0] = '\0';
	}
	if (tbuf[0] && sec == *csec) {
		p = put(p, tbuf, 20);
		*p++ = (char)('0' + ms / 100);
		*p++ = (char)('0' + ms / 10 % 10);
		*p++ = (char)('0' + ms % 10);
		*p++ = 'Z';
	} else {
		*p++ = '-';
	}
	*p++ = ' ';
	p = put_field(p, e->client);
	*p++ = ' ';
	if (e->req && e->req->method_len)
		p = put(p, e->req->method, e->req->method_len);
	else
		*p++ = '-';
	*p++ = ' ';
	if (e->req && e->req->target_len)
		p = put(p, e->req->target, e->req->target_len);
	else
		*p++ = '-';
	*p++ = ' ';
	if (e->status >= 100 && e->status <= 999)
		p = put_u64(p, (uint64_t)e->status);
	else
		*p++ = '-';
	*p++ = ' ';
	p = put_field(p, e->pool);
	*p++ = ' ';
	p = put_field(p, e->server);
	*p++ = ' ';
	p = put_u64(p, e->bytes);
	*p++ = ' ';
	if (e->latency_us >= 0)
		p = put_u64(p, (uint64_t)e->latency_us);
	else
		*p++ = '-';
	*p++ = '\n';
	return (size_t)(p - out);
}

size_t accesslog_format(const struct accesslog_entry *e, char *out, size_t cap)
{
	int64_t csec = INT64_MIN;
	char tbuf[24] = "";

	if (cap < ACCESSLOG_LINE_MAX)
		return 0;
	return format_line(e, out, &csec, tbuf);
}

/* ---- the writer thread ---------------------------------------------------------- */

/* Write all of BUF to FD. Returns 0, or the errno of the failure. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct accesslog *log = arg;
	char *batch = NULL;
	size_t batch_cap = 0;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		while (!log->pending_len && log->next_fd < 0 && !log->stop)
			pthread_cond_wait(&log->wake, &log->lock);
		if (!log->pending_len && log->next_fd < 0)
			break; /* stop, and nothing left */

		/* Take the batch by swapping buffers: the workers go on appending to
		 * the (empty) other one while this one is written. */
		char *tmp = log->pending;
		size_t len = log->pending_len, cap = log->pending_cap;
		uint64_t lines = log->pending_lines;
		int next_fd = log->next_fd;
		size_t split = next_fd >= 0 ? log->next_split : len;
		uint64_t split_lines = next_fd >= 0 ? log->split_lines : lines;

		log->pending = batch;
		log->pending_cap = batch_cap;
		log->pending_len = 0;
		log->pending_lines = 0;
		log->next_fd = -1;
		log->busy = true;
		batch = tmp;
		batch_cap = cap;
		pthread_mutex_unlock(&log->lock);

		int e1 = write_all(log->fd, batch, split);
		if (next_fd >= 0) {
			close(log->fd);
			log->fd = next_fd;
		}
		int e2 = write_all(log->fd, batch + split, len - split);

		pthread_mutex_lock(&log->lock);
		if (e1) {
			log->stats.lines_dropped += split_lines;
			log->stats.last_errno = e1;
		} else {
			log->stats.lines_written += split_lines;
		}
		if (e2) {
			log->stats.lines_dropped += lines - split_lines;
			log->stats.last_errno = e2;
		} else {
			log->stats.lines_written += lines - split_lines;
		}
		log->finished += lines;
		log->busy = false;
		pthread_cond_broadcast(&log->done);
	}
	pthread_mutex_unlock(&log->lock);
	free(batch);
	return NULL;
}

/* ---- the log ------------------------------------------------------------------- */

/* Open PATH for appending; -1 with the reason in ERR. */
static int open_file(const char *path, const char *what, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, FILE_MODE);

	if (fd < 0) {
		int e = errno;
		const char *slash = strrchr(path, '/');

		if (e == ENOENT && slash && slash != path)
			snprintf(err, errlen, "cannot %s access log %s: %s (create the directory %.*s)",
			         what, path, strerror(e), (int)(slash - path), path);
		else
			snprintf(err, errlen, "cannot %s access log %s: %s", what, path, strerror(e));
		errno = e;
	}
	return fd;
}

struct accesslog *accesslog_open(const char *path, char *err, size_t errlen)
{
	struct accesslog *log = calloc(1, sizeof(*log));
	bool locks = false;

	if (!log || !(log->path = strdup(path))) {
		snprintf(err, errlen, "cannot open access log %s: out of memory", path);
		goto fail;
	}
	log->next_fd = -1;
	log->fd = open_file(path, "open", err, errlen);
	if (log->fd < 0)
		goto fail;
	if (pthread_mutex_init(&log->lock, NULL) != 0)
		goto fail_thread;
	if (pthread_cond_init(&log->wake, NULL) != 0) {
		pthread_mutex_destroy(&log->lock);
		goto fail_thread;
	}
	if (pthread_cond_init(&log->done, NULL) != 0) {
		pthread_cond_destroy(&log->wake);
		pthread_mutex_destroy(&log->lock);
		goto fail_thread;
	}
	locks = true;
	if (pthread_create(&log->thread, NULL, writer_main, log) != 0)
		goto fail_thread;
	return log;
fail_thread:
	snprintf(err, errlen, "cannot open access log %s: cannot start its writer thread", path);
fail:
	if (log) {
		if (locks) {
			pthread_cond_destroy(&log->done);
			pthread_cond_destroy(&log->wake);
			pthread_mutex_destroy(&log->lock);
		}
		if (log->path && log->fd >= 0)
			close(log->fd);
		free(log->path);
		free(log);
	}
	return NULL;
}

int accesslog_reopen(struct accesslog *log, char *err, size_t errlen)
{
	int fd = open_file(log->path, "reopen", err, errlen);

	pthread_mutex_lock(&log->lock);
	if (fd < 0) {
		log->stats.last_errno = errno;
		pthread_mutex_unlock(&log->lock);
		return -1;
	}
	/* A reopen the writer has not taken yet: lines handed over since belong
	 * to that file, so let the writer switch to it first. Rare (two signals
	 * in a row) and short (one batch). */
	while (log->next_fd >= 0)
		pthread_cond_wait(&log->done, &log->lock);
	log->next_split = log->pending_len;
	log->split_lines = log->pending_lines;
	log->next_fd = fd;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	return 0;
}

/* Hand LEN bytes holding LINES lines to the writer (dropped past the cap). */
static void hand_over(struct accesslog *log, const char *data, size_t len, uint64_t lines)
{
	pthread_mutex_lock(&log->lock);
	if (log->pending_len + len > ACCESSLOG_PENDING_MAX) {
		log->stats.lines_dropped += lines;
		pthread_mutex_unlock(&log->lock);
		return;
	}
	if (log->pending_len + len > log->pending_cap) {
		size_t cap = log->pending_cap ? log->pending_cap : ACCESSLOG_BUF_SIZE;
		char *p;

		while (cap < log->pending_len + len)
			cap *= 2;
		p = realloc(log->pending, cap);
		if (!p) {
			log->stats.lines_dropped += lines;
			log->stats.last_errno = ENOMEM;
			pthread_mutex_unlock(&log->lock);
			return;
		}
		log->pending = p;
		log->pending_cap = cap;
	}
	memcpy(log->pending + log->pending_len, data, len);
	log->pending_len += len;
	log->pending_lines += lines;
	log->handed += lines;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
}

void accesslog_sync(struct accesslog *log)
{
	pthread_mutex_lock(&log->lock);
	/* A reopen with nothing pending still counts: wait until it is taken. */
	while (log->finished != log->handed || log->busy || log->next_fd >= 0)
		pthread_cond_wait(&log->done, &log->lock);
	pthread_mutex_unlock(&log->lock);
}

void accesslog_close(struct accesslog *log)
{
	if (!log)
		return;
	pthread_mutex_lock(&log->lock);
	log->stop = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->thread, NULL);
	close(log->fd);
	pthread_cond_destroy(&log->done);
	pthread_cond_destroy(&log->wake);
	pthread_mutex_destroy(&log->lock);
	free(log->pending);
	free(log->path);
	free(log);
}

void accesslog_get_stats(struct accesslog *log, struct accesslog_stats *st)
{
	pthread_mutex_lock(&log->lock);
	*st = log->stats;
	pthread_mutex_unlock(&log->lock);
}

/* ---- per-thread buffers ------------------------------------------------------------ */

int accesslog_buf_init(struct accesslog_buf *b, struct accesslog *log)
{
	memset(b, 0, sizeof(*b));
	b->cached_sec = INT64_MIN;
	if (!log)
		return 0;
	b->data = malloc(ACCESSLOG_BUF_SIZE);
	if (!b->data)
		return -1;
	b->cap = ACCESSLOG_BUF_SIZE;
	b->log = log;
	return 0;
}

void accesslog_buf_dispose(struct accesslog_buf *b)
{
	accesslog_flush(b);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void accesslog_append(struct accesslog_buf *b, const struct accesslog_entry *e)
{
	if (!b->log)
		return;
	if (b->cap - b->len < ACCESSLOG_LINE_MAX)
		accesslog_flush(b);
	b->len += format_line(e, b->data + b->len, &b->cached_sec, b->cached_time);
	b->lines++;
}

void accesslog_flush(struct accesslog_buf *b)
{
	if (!b->log || !b->len)
		return;
	hand_over(b->log, b->data, b->len, b->lines);
	b->len = 0;
	b->lines = 0;
}
