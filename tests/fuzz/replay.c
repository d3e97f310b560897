/* replay: run every fuzz harness over its seed corpus and over every input
 * that ever made it fail (tests/fuzz/corpus/NAME and tests/fuzz/regressions/
 * NAME), so make check keeps what the fuzzing runs found fixed. Built with
 * the ordinary compiler; under --enable-sanitizers the sanitizers check these
 * inputs too. A harness aborts on a failure, which fails the test.
 *
 *   replay [DIR]     DIR: the tests/fuzz directory (default:
 *                    $top_srcdir/tests/fuzz, as make check sets it) */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

struct harness {
	const char *name;
	int (*run)(const uint8_t *data, size_t size);
};

static const struct harness harnesses[] = {
	{ "fuzz_config", fuzz_config },
	{ "fuzz_control", fuzz_control },
	{ "fuzz_h2conv", fuzz_h2conv },
	{ "fuzz_h2session", fuzz_h2session },
	{ "fuzz_hdr", fuzz_hdr },
	{ "fuzz_request", fuzz_request },
	{ "fuzz_response", fuzz_response },
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read PATH whole into a buffer of exactly its size. */
static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_size >= 0) {
		*size = (size_t)st.st_size;
		buf = malloc(*size ? *size : 1);
		if (buf && fread(buf, 1, *size, f) != *size) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* Run H over the files of DIR in name order. Returns how many, or -1. A
 * missing directory is 0 files when OPTIONAL. */
static long replay_dir(const struct harness *h, const char *dir, int optional)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	struct dirent *e;
	long count = 0;
	DIR *d = opendir(dir);

	if (!d) {
		if (optional && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));
			if (!more)
				abort();
			names = more;
		}
		if (!(names[n++] = strdup(e->d_name)))
			abort();
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		uint8_t *data;
		size_t size = 0;

		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path) ||
		    !(data = read_file(path, &size))) {
			fprintf(stderr, "replay: cannot read %s\n", path);
			count = -1;
			break;
		}
		h->run(data, size);
		free(data);
		count++;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char base[2048], dir[2400];
	int failed = 0;

	if (argc < 2 && !top) {
		fprintf(stderr, "usage: replay DIR (or set top_srcdir)\n");
		return 2;
	}
	if ((argc > 1 ? snprintf(base, sizeof(base), "%s", argv[1])
	              : snprintf(base, sizeof(base), "%s/tests/fuzz", top)) >= (int)sizeof(base)) {
		fprintf(stderr, "replay: directory name too long\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(harnesses) / sizeof(harnesses[0]); i++) {
		const struct harness *h = &harnesses[i];
		long corpus, crashes;

		/* BASE is under 2048 bytes: both names fit DIR. */
		snprintf(dir, sizeof(dir), "%s/corpus/%s", base, h->name);
		corpus = replay_dir(h, dir, 0);
		snprintf(dir, sizeof(dir), "%s/regressions/%s", base, h->name);
		crashes = replay_dir(h, dir, 1);
		if (corpus <= 0 || crashes < 0) {
			fprintf(stderr, "FAIL: %s: no seed corpus or unreadable inputs\n", h->name);
			failed = 1;
			continue;
		}
		printf("ok - %s: %ld corpus inputs, %ld regression inputs\n", h->name, corpus, crashes);
	}
	return failed;
}
