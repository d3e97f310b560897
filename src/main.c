/* weir: the command line. Parses options, loads the configuration and hands
 * it to the runtime. Exit status: 0 clean stop, 1 configuration or usage
 * error, 2 runtime failure (INTERFACE.md). */
#include "config.h"

#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/blockpool.h"
#include "weir/config.h"
#include "weir/diag.h"
#include "weir/runtime.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: weir [-c FILE] [-t] [-V] [-h]\n"
	        "  -c, --config FILE   configuration file (default: %s)\n"
	        "  -t, --test          parse and validate the configuration, print\n"
	        "                      \"configuration ok\" or the errors, exit 0 or 1\n"
	        "  -V, --version       print the version and exit\n"
	        "  -h, --help          this help\n",
	        WEIR_DEFAULT_CONFIG);
}

/* glibc hands memory back to the kernel as soon as 128 KiB lie free at the
 * top of a heap, and serves blocks over a moving threshold with mmap. A
 * proxy frees and reallocates megabytes of buffers every second under load
 * (64 KiB bodies through hundreds of streams), so the same pages went back
 * and forth: each first touch a page fault, 10-15 % of the CPU on a
 * virtualised host (perf record, bench/h2.sh, 64 KiB). Fixed thresholds keep
 * up to TRIM_KEEP of freed memory in the process, as HAProxy's pools do. */
#define TRIM_KEEP (64 * 1024 * 1024)
#define MMAP_FROM (4 * 1024 * 1024)

static void tune_allocator(void)
{
#ifdef __GLIBC__
	(void)mallopt(M_MMAP_THRESHOLD, MMAP_FROM);
	(void)mallopt(M_TRIM_THRESHOLD, TRIM_KEEP);
#endif
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",  required_argument, NULL, 'c' },
		{ "test",    no_argument,       NULL, 't' },
		{ "version", no_argument,       NULL, 'V' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = WEIR_DEFAULT_CONFIG;
	int test_only = 0;
	int c;

	blockpool_install(); /* before libevent allocates anything */

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:tVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': test_only = 1; break;
		case 'V': printf("weir %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case ':':
			fprintf(stderr, "weir: option %s needs an argument\n", argv[optind - 1]);
			usage(stderr);
			return 1;
		default:
			if (optopt)
				fprintf(stderr, "weir: unknown option -%c\n", optopt);
			else
				fprintf(stderr, "weir: unknown option %s\n", argv[optind - 1]);
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 1;
	}

	struct diag diag;
	diag_init(&diag);
	struct weir_config *cfg = config_load(path, &diag);
	diag_print(&diag, stderr, "weir");
	diag_dispose(&diag);
	if (!cfg)
		return 1;
	if (test_only) {
		printf("configuration ok\n");
		if (cfg->cluster.present)
			fprintf(stderr, "weir: note: member %s of fleet %s through %zu etcd endpoint(s), lease %llus; "
			        "-t does not contact etcd\n", cfg->cluster.node, cfg->cluster.name, cfg->cluster.netcd,
			        (unsigned long long)(cfg->cluster.ttl_ms / 1000));
		config_free(cfg);
		return 0;
	}
	tune_allocator();
	int rc = runtime_run(cfg); /* it owns cfg now */
	blockpool_thread_release();
	return rc;
}
