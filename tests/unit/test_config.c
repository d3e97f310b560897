/* Unit tests for config.c (and diag.c): the whole schema of INTERFACE.md,
 * every kind of diagnostic with its FILE:LINE, and the public parsers. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "weir/check.h"
#include "weir/config.h"

#include "testcert.h"

/* ---- fixture: a temporary directory with TLS files --------------------- */

/* cert/key: a matching pair (the certificate self-signed, so also the CA);
 * other_key: a key of another pair; junk: a file that is no PEM at all. */
static char tmpdir[64];
static char cert_path[128], key_path[128], ca_path[128], other_key_path[128], junk_path[128];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static int setup_files(void **state)
{
	const char *const certs[] = { cert_path, ca_path, NULL };
	EVP_PKEY *key;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/weir-test-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
	snprintf(other_key_path, sizeof(other_key_path), "%s/other-key.pem", tmpdir);
	snprintf(junk_path, sizeof(junk_path), "%s/junk.pem", tmpdir);
	key = testcert_write_key(key_path);
	testcert_write_cert(key, certs);
	EVP_PKEY_free(key);
	EVP_PKEY_free(testcert_write_key(other_key_path));
	write_file(junk_path, "not PEM\n");
	return 0;
}

static int teardown_files(void **state)
{
	char path[160];

	(void)state;
	unlink(cert_path);
	unlink(key_path);
	unlink(ca_path);
	unlink(other_key_path);
	unlink(junk_path);
	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	unlink(path);
	return rmdir(tmpdir);
}

/* ---- helpers ----------------------------------------------------------- */

/* A minimal valid configuration: two lines, so extra text starts at line 3. */
#define MIN_LISTEN "listen = ( \"127.0.0.1:8080\" );\n"
#define MIN_POOLS "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); }; " \
                  "canary = { servers = ( \"127.0.0.1:9101\" ); }; };\n"
#define MIN MIN_LISTEN MIN_POOLS

static char *xasprintf_t(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf_t(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

static void dump(const char *text, const struct diag *d)
{
	print_message("---- configuration:\n%s---- diagnostics:\n", text);
	diag_print(d, stderr, "  ");
}

/* True when D holds a message of LEVEL that starts with "NAME:LINE: " and
 * contains PHRASE. */
static bool has_msg(const struct diag *d, enum diag_level level, const char *name,
                    unsigned line, const char *phrase)
{
	char prefix[160];
	size_t i;

	snprintf(prefix, sizeof(prefix), "%s:%u: ", name, line);
	for (i = 0; i < d->n; i++) {
		if (d->msgs[i].level == level &&
		    strncmp(d->msgs[i].text, prefix, strlen(prefix)) == 0 &&
		    strstr(d->msgs[i].text, phrase) != NULL)
			return true;
	}
	return false;
}

/* TEXT must fail with exactly NERRORS errors, one of them at LINE and
 * containing PHRASE. */
static void check_errors_text(const char *text, size_t nerrors, unsigned line,
                              const char *phrase)
{
	struct diag d;
	struct weir_config *cfg;

	diag_init(&d);
	cfg = config_load_string(text, "t.conf", &d);
	if (cfg != NULL || d.nerrors != nerrors ||
	    !has_msg(&d, DIAG_ERROR, "t.conf", line, phrase)) {
		dump(text, &d);
		config_free(cfg);
		diag_dispose(&d);
		fail_msg("expected %zu error(s), one at t.conf:%u containing: %s", nerrors, line,
		         phrase);
	}
	diag_dispose(&d);
}

static void check_error_text(const char *text, unsigned line, const char *phrase)
{
	check_errors_text(text, 1, line, phrase);
}

struct error_case {
	const char *extra;            /* appended to MIN */
	unsigned line;
	const char *phrase;
};

static void check_error_cases(const struct error_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *text = xasprintf_t("%s%s", MIN, cases[i].extra);

		check_error_text(text, cases[i].line, cases[i].phrase);
		free(text);
	}
}

#define CHECK_CASES(cases) check_error_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* TEXT must load with no diagnostic at all. Release with config_free. */
static struct weir_config *load_ok(const char *text)
{
	struct diag d;
	struct weir_config *cfg;

	diag_init(&d);
	cfg = config_load_string(text, "t.conf", &d);
	if (cfg == NULL || d.n != 0) {
		dump(text, &d);
		config_free(cfg);
		diag_dispose(&d);
		fail_msg("expected a clean load");
	}
	diag_dispose(&d);
	return cfg;
}

static struct weir_config *load_ok_extra(const char *extra)
{
	char *text = xasprintf_t("%s%s", MIN, extra);
	struct weir_config *cfg = load_ok(text);

	free(text);
	return cfg;
}

static void assert_double(double got, double want)
{
	if (isnan(want)) {
		if (!isnan(got))
			fail_msg("expected NaN, got %.17g", got);
		return;
	}
	if (!(fabs(got - want) <= 1e-12 * fmax(1.0, fabs(want))))
		fail_msg("expected %.17g, got %.17g", want, got);
}

static void assert_thresholds(const struct cfg_thresholds *t, double err, double p50,
                              double p99, double p999, double inc, double ratio)
{
	assert_double(t->max_error_rate, err);
	assert_double(t->max_p50_ms, p50);
	assert_double(t->max_p99_ms, p99);
	assert_double(t->max_p999_ms, p999);
	assert_double(t->max_error_rate_increase, inc);
	assert_double(t->max_p99_ratio, ratio);
}

static unsigned addr_port(const struct cfg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

static void assert_ipv4(const struct cfg_addr *a, const char *text, const char *ip,
                        unsigned port)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
	char buf[INET_ADDRSTRLEN];

	assert_string_equal(a->text, text);
	assert_int_equal(a->ss.ss_family, AF_INET);
	assert_int_equal(a->len, sizeof(struct sockaddr_in));
	assert_non_null(inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf)));
	assert_string_equal(buf, ip);
	assert_int_equal(addr_port(a), port);
}

/* ---- valid configurations ---------------------------------------------- */

/* The example of INTERFACE.md, with the TLS files of the fixture. */
static char *interface_example(void)
{
	return xasprintf_t(
	    "listen = ( \"127.0.0.1:8080\",\n"
	    "           { address = \"0.0.0.0:8443\";\n"
	    "             tls = { certificate = \"%s\"; key = \"%s\";\n"
	    "                     min_version = \"1.2\"; }; } );\n"
	    "workers = 1;\n"
	    "admin = {\n"
	    "  http   = \"127.0.0.1:9090\";\n"
	    "  socket = \"/run/weir/weir.sock\";\n"
	    "};\n"
	    "pools = {\n"
	    "  baseline = { servers = ( \"127.0.0.1:9001\", \"127.0.0.1:9002\" ); };\n"
	    "  canary   = { servers = ( \"127.0.0.1:9101\" );\n"
	    "               tls = { ca = \"%s\"; server_name = \"canary.internal\";\n"
	    "                       verify = true; };\n"
	    "             };\n"
	    "  balance  = \"round_robin\";\n"
	    "};\n"
	    "split = {\n"
	    "  canary_weight = 5.0;\n"
	    "  sticky_header = \"X-User-Id\";\n"
	    "  sticky_cookie = \"uid\";\n"
	    "  override_header = \"X-Weir-Pool\";\n"
	    "  expose_pool = false;\n"
	    "};\n"
	    "errors = { statuses = \"5xx\"; };\n"
	    "timeouts = { connect = \"2s\"; request_header = \"10s\"; backend = \"30s\";\n"
	    "             idle = \"60s\"; drain = \"10s\"; };\n"
	    "limits   = { max_connections = 10000; max_header_bytes = 65536; };\n"
	    "guard = {\n"
	    "  enabled = true;\n"
	    "  method = \"window\";\n"
	    "  interval = \"1s\";\n"
	    "  window = \"30s\";\n"
	    "  min_requests = 100;\n"
	    "  for = \"5s\";\n"
	    "  max_error_rate = 0.02;\n"
	    "  max_p50_ms = 50.0;\n"
	    "  max_p99_ms = 200.0;\n"
	    "  max_p999_ms = 1000.0;\n"
	    "  max_error_rate_increase = 0.01;\n"
	    "  max_p99_ratio = 1.5;\n"
	    "  action = \"rollback\";\n"
	    "};\n"
	    "rollout = {\n"
	    "  steps = [ 1.0, 10.0, 25.0, 50.0, 100.0 ];\n"
	    "  hold = \"10m\";\n"
	    "  auto = true;\n"
	    "};\n"
	    "state_file = \"/var/lib/weir/state\";\n"
	    "event_log  = \"/var/log/weir/events.log\";\n"
	    "access_log = \"\";\n", cert_path, key_path, ca_path);
}

static void test_full_example(void **state)
{
	static const uint32_t weights[] = { 100, 1000, 2500, 5000, 10000 };
	char *text = interface_example();
	struct weir_config *cfg;
	size_t i;

	(void)state;
	cfg = load_ok(text);
	free(text);

	assert_string_equal(cfg->path, "t.conf");
	assert_int_equal(cfg->nlisteners, 2);
	assert_ipv4(&cfg->listeners[0].addr, "127.0.0.1:8080", "127.0.0.1", 8080);
	assert_int_equal(cfg->listeners[0].addr.line, 1);
	assert_false(cfg->listeners[0].tls);
	assert_ipv4(&cfg->listeners[1].addr, "0.0.0.0:8443", "0.0.0.0", 8443);
	assert_int_equal(cfg->listeners[1].addr.line, 2);
	assert_true(cfg->listeners[1].tls);
	assert_string_equal(cfg->listeners[1].tls_conf.certificate, cert_path);
	assert_string_equal(cfg->listeners[1].tls_conf.key, key_path);
	assert_int_equal(cfg->listeners[1].tls_conf.min_version, TLS1_2_VERSION);
	assert_int_equal(cfg->listeners[0].protocols, CFG_PROTO_HTTP1);
	assert_int_equal(cfg->listeners[1].protocols, CFG_PROTO_H2 | CFG_PROTO_HTTP1);
	assert_true(cfg->listeners[1].h2_first);

	assert_int_equal(cfg->workers, 1);
	assert_false(cfg->workers_auto);
	assert_true(cfg->admin_http_set);
	assert_ipv4(&cfg->admin_http, "127.0.0.1:9090", "127.0.0.1", 9090);
	assert_string_equal(cfg->admin_socket, "/run/weir/weir.sock");

	assert_int_equal(cfg->pools[POOL_BASELINE].nservers, 2);
	assert_ipv4(&cfg->pools[POOL_BASELINE].servers[0], "127.0.0.1:9001", "127.0.0.1", 9001);
	assert_ipv4(&cfg->pools[POOL_BASELINE].servers[1], "127.0.0.1:9002", "127.0.0.1", 9002);
	assert_int_equal(cfg->pools[POOL_BASELINE].servers[1].line, 11);
	assert_false(cfg->pools[POOL_BASELINE].tls.enabled);
	assert_int_equal(cfg->pools[POOL_CANARY].nservers, 1);
	assert_ipv4(&cfg->pools[POOL_CANARY].servers[0], "127.0.0.1:9101", "127.0.0.1", 9101);
	assert_true(cfg->pools[POOL_CANARY].tls.enabled);
	assert_string_equal(cfg->pools[POOL_CANARY].tls.ca, ca_path);
	assert_string_equal(cfg->pools[POOL_CANARY].tls.server_name, "canary.internal");
	assert_true(cfg->pools[POOL_CANARY].tls.verify);
	assert_int_equal(cfg->balance, BALANCE_ROUND_ROBIN);

	assert_int_equal(cfg->split.canary_weight, 500);
	assert_string_equal(cfg->split.sticky_header, "X-User-Id");
	assert_string_equal(cfg->split.sticky_cookie, "uid");
	assert_string_equal(cfg->split.override_header, "X-Weir-Pool");
	assert_false(cfg->split.expose_pool);

	for (i = 0; i < 640; i++)
		assert_int_equal(cfg_status_is_error(&cfg->errors, (unsigned)i), i >= 500 && i <= 599);

	assert_int_equal(cfg->timeouts.connect_ms, 2000);
	assert_int_equal(cfg->timeouts.request_header_ms, 10000);
	assert_int_equal(cfg->timeouts.backend_ms, 30000);
	assert_int_equal(cfg->timeouts.idle_ms, 60000);
	assert_int_equal(cfg->timeouts.drain_ms, 10000);
	assert_int_equal(cfg->limits.max_connections, 10000);
	assert_int_equal(cfg->limits.max_header_bytes, 65536);

	assert_true(cfg->guard.enabled);
	assert_int_equal(cfg->guard.interval_ms, 1000);
	assert_int_equal(cfg->guard.window_ms, 30000);
	assert_int_equal(cfg->guard.min_requests, 100);
	assert_int_equal(cfg->guard.for_ms, 5000);
	assert_thresholds(&cfg->guard.thresholds, 0.02, 50.0, 200.0, 1000.0, 0.01, 1.5);
	assert_int_equal(cfg->guard.action, GUARD_ACTION_ROLLBACK);

	assert_true(cfg->rollout.present);
	assert_int_equal(cfg->rollout.nsteps, 5);
	assert_int_equal(cfg->rollout.hold_ms, 600000);
	assert_true(cfg->rollout.auto_advance);
	for (i = 0; i < 5; i++) {
		assert_int_equal(cfg->rollout.steps[i].weight, weights[i]);
		assert_int_equal(cfg->rollout.steps[i].hold_ms, 600000);
		assert_thresholds(&cfg->rollout.steps[i].thresholds, 0.02, 50.0, 200.0, 1000.0,
		                  0.01, 1.5);
	}

	assert_string_equal(cfg->state_file, "/var/lib/weir/state");
	assert_string_equal(cfg->event_log, "/var/log/weir/events.log");
	assert_string_equal(cfg->access_log, "");
	config_free(cfg);
}

static void test_defaults(void **state)
{
	struct weir_config *cfg = load_ok(MIN);
	size_t i;

	(void)state;
	assert_int_equal(cfg->nlisteners, 1);
	assert_false(cfg->listeners[0].tls);
	assert_int_equal(cfg->workers, 1);
	assert_false(cfg->workers_auto);
	assert_true(cfg->admin_http_set);
	assert_ipv4(&cfg->admin_http, "127.0.0.1:9090", "127.0.0.1", 9090);
	assert_string_equal(cfg->admin_socket, WEIR_DEFAULT_SOCKET);
	assert_int_equal(cfg->pools[POOL_BASELINE].nservers, 1);
	assert_int_equal(cfg->pools[POOL_CANARY].nservers, 1);
	assert_false(cfg->pools[POOL_CANARY].tls.enabled);
	assert_int_equal(cfg->balance, BALANCE_ROUND_ROBIN);
	assert_int_equal(cfg->split.canary_weight, 0);
	assert_null(cfg->split.sticky_header);
	assert_null(cfg->split.sticky_cookie);
	assert_null(cfg->split.override_header);
	assert_false(cfg->split.expose_pool);
	for (i = 0; i < 640; i++)
		assert_int_equal(cfg_status_is_error(&cfg->errors, (unsigned)i), i >= 500 && i <= 599);
	assert_true(cfg->errors.abandoned);
	assert_int_equal(cfg->timeouts.connect_ms, 2000);
	assert_int_equal(cfg->timeouts.request_header_ms, 10000);
	assert_int_equal(cfg->timeouts.backend_ms, 30000);
	assert_int_equal(cfg->timeouts.idle_ms, 60000);
	assert_int_equal(cfg->timeouts.drain_ms, 10000);
	assert_int_equal(cfg->limits.max_connections, 10000);
	assert_int_equal(cfg->limits.max_header_bytes, 65536);
	assert_int_equal(cfg->limits.h2_max_streams, 100);
	assert_true(cfg->guard.enabled);
	assert_int_equal(cfg->guard.interval_ms, 1000);
	assert_int_equal(cfg->guard.window_ms, 30000);
	assert_int_equal(cfg->guard.min_requests, 100);
	assert_int_equal(cfg->guard.for_ms, 5000);
	assert_thresholds(&cfg->guard.thresholds, 0.02, NAN, NAN, NAN, 0.01, 1.5);
	assert_int_equal(cfg->guard.action, GUARD_ACTION_ROLLBACK);
	assert_false(cfg->rollout.present);
	assert_int_equal(cfg->rollout.nsteps, 0);
	assert_string_equal(cfg->state_file, WEIR_DEFAULT_STATE_FILE);
	assert_string_equal(cfg->event_log, WEIR_DEFAULT_EVENT_LOG);
	assert_string_equal(cfg->access_log, "");
	config_free(cfg);
}

/* A guard group replaces only the thresholds it names; "off" drops one. */
static void test_guard_partial_keeps_defaults(void **state)
{
	struct weir_config *cfg;

	(void)state;
	cfg = load_ok_extra("guard = { method = \"window\"; min_requests = 5; max_p99_ms = 120; "
	                    "max_p99_ratio = \"off\"; action = \"alert\"; enabled = false; "
	                    "for = \"0s\"; interval = \"250ms\"; window = \"1s\"; };\n");
	assert_false(cfg->guard.enabled);
	assert_int_equal(cfg->guard.min_requests, 5);
	assert_int_equal(cfg->guard.for_ms, 0);
	assert_int_equal(cfg->guard.interval_ms, 250);
	assert_int_equal(cfg->guard.window_ms, 1000);
	assert_int_equal(cfg->guard.action, GUARD_ACTION_ALERT);
	assert_thresholds(&cfg->guard.thresholds, 0.02, NAN, 120.0, NAN, 0.01, NAN);
	config_free(cfg);
}

static void test_assorted_valid_values(void **state)
{
	struct weir_config *cfg;
	char *text;

	(void)state;
	cfg = load_ok_extra("workers = \"auto\";\n"
	                    "admin = { http = \"\"; socket = \"\"; };\n"
	                    "split = { canary_weight = 33; sticky_header = \"\"; "
	                    "sticky_cookie = \"session_id\"; expose_pool = true; };\n"
	                    "errors = { abandoned = false; statuses = ( \"4xx\", 503, \"504\" ); };\n"
	                    "timeouts = { connect = 1500; drain = 0; idle = \"1.5m\"; };\n"
	                    "limits = { max_connections = 1; max_header_bytes = 1024; };\n"
	                    "state_file = \"\"; event_log = \"\"; access_log = \"/tmp/a.log\";\n");
	{
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned want = n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;

		assert_true(cfg->workers_auto);
		assert_int_equal(cfg->workers, want);
	}
	assert_false(cfg->admin_http_set);
	assert_string_equal(cfg->admin_http.text, "");
	assert_string_equal(cfg->admin_socket, "");
	assert_int_equal(cfg->split.canary_weight, 3300);
	assert_null(cfg->split.sticky_header);
	assert_string_equal(cfg->split.sticky_cookie, "session_id");
	assert_true(cfg->split.expose_pool);
	assert_true(cfg_status_is_error(&cfg->errors, 400));
	assert_true(cfg_status_is_error(&cfg->errors, 499));
	assert_true(cfg_status_is_error(&cfg->errors, 503));
	assert_true(cfg_status_is_error(&cfg->errors, 504));
	assert_false(cfg_status_is_error(&cfg->errors, 500));
	assert_false(cfg_status_is_error(&cfg->errors, 502));
	assert_false(cfg_status_is_error(&cfg->errors, 399));
	assert_false(cfg->errors.abandoned);   /* kept when statuses is read after it */
	assert_int_equal(cfg->timeouts.connect_ms, 1500);
	assert_int_equal(cfg->timeouts.drain_ms, 0);
	assert_int_equal(cfg->timeouts.idle_ms, 90000);
	assert_int_equal(cfg->timeouts.backend_ms, 30000);
	assert_int_equal(cfg->limits.max_connections, 1);
	assert_int_equal(cfg->limits.max_header_bytes, 1024);
	assert_string_equal(cfg->state_file, "");
	assert_string_equal(cfg->event_log, "");
	assert_string_equal(cfg->access_log, "/tmp/a.log");
	config_free(cfg);

	/* Upper bounds, IPv6 and localhost, a lone string for listen and servers. */
	cfg = load_ok("listen = \"[::1]:8080\";\n"
	              "pools = { baseline = { servers = \"localhost:9001\"; };\n"
	              "  canary = { servers = [ \"[::1]:9101\" ]; tls = {}; };\n"
	              "  balance = \"least_conn\"; };\n"
	              "workers = 256;\n"
	              "split = { canary_weight = 100; };\n"
	              "errors = { statuses = \"4xx\"; };\n"
	              "limits = { max_connections = 1000000; max_header_bytes = 1048576; };\n");
	assert_int_equal(cfg->nlisteners, 1);
	assert_int_equal(cfg->listeners[0].addr.ss.ss_family, AF_INET6);
	assert_int_equal(addr_port(&cfg->listeners[0].addr), 8080);
	assert_ipv4(&cfg->pools[POOL_BASELINE].servers[0], "localhost:9001", "127.0.0.1", 9001);
	assert_int_equal(cfg->pools[POOL_CANARY].servers[0].ss.ss_family, AF_INET6);
	assert_true(cfg->pools[POOL_CANARY].tls.enabled);
	assert_true(cfg->pools[POOL_CANARY].tls.verify);
	assert_null(cfg->pools[POOL_CANARY].tls.ca);
	assert_null(cfg->pools[POOL_CANARY].tls.server_name);
	assert_int_equal(cfg->balance, BALANCE_LEAST_CONN);
	assert_int_equal(cfg->workers, 256);
	assert_false(cfg->workers_auto);
	assert_int_equal(cfg->split.canary_weight, 10000);
	assert_true(cfg_status_is_error(&cfg->errors, 404));
	assert_false(cfg_status_is_error(&cfg->errors, 500));
	assert_int_equal(cfg->limits.max_connections, 1000000);
	assert_int_equal(cfg->limits.max_header_bytes, 1048576);
	config_free(cfg);

	/* TLS 1.3 on a listener, verify off on a pool, 107-byte socket path. */
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\"; tls = { certificate = "
	                   "\"%s\"; key = \"%s\"; min_version = \"1.3\"; }; } );\n"
	                   "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); "
	                   "tls = { verify = false; server_name = \"b.internal\"; }; }; "
	                   "canary = { servers = ( \"127.0.0.1:9101\" ); }; };\n"
	                   "admin = { socket = \"/%0106d\"; };\n", cert_path, key_path, 0);
	cfg = load_ok(text);
	free(text);
	assert_true(cfg->listeners[0].tls);
	assert_int_equal(cfg->listeners[0].tls_conf.min_version, TLS1_3_VERSION);
	assert_true(cfg->pools[POOL_BASELINE].tls.enabled);
	assert_false(cfg->pools[POOL_BASELINE].tls.verify);
	assert_string_equal(cfg->pools[POOL_BASELINE].tls.server_name, "b.internal");
	assert_int_equal(strlen(cfg->admin_socket), 107);
	config_free(cfg);
}

/* ---- rollout ------------------------------------------------------------- */

static void test_rollout_numbers(void **state)
{
	struct weir_config *cfg;

	(void)state;
	cfg = load_ok_extra("rollout = { steps = ( 0.01, 2, 33.33, 100 ); };\n");
	assert_true(cfg->rollout.present);
	assert_true(cfg->rollout.auto_advance);
	assert_int_equal(cfg->rollout.hold_ms, 600000);
	assert_int_equal(cfg->rollout.nsteps, 4);
	assert_int_equal(cfg->rollout.steps[0].weight, 1);
	assert_int_equal(cfg->rollout.steps[1].weight, 200);
	assert_int_equal(cfg->rollout.steps[2].weight, 3333);
	assert_int_equal(cfg->rollout.steps[3].weight, 10000);
	assert_int_equal(cfg->rollout.steps[3].hold_ms, 600000);
	assert_thresholds(&cfg->rollout.steps[0].thresholds, 0.02, NAN, NAN, NAN, 0.01, 1.5);
	config_free(cfg);

	cfg = load_ok_extra("rollout = { steps = [ 5.0, 50.0 ]; hold = \"0s\"; auto = false; };\n");
	assert_false(cfg->rollout.auto_advance);
	assert_int_equal(cfg->rollout.hold_ms, 0);
	assert_int_equal(cfg->rollout.steps[0].hold_ms, 0);
	assert_int_equal(cfg->rollout.steps[1].weight, 5000);
	config_free(cfg);
}

/* The INTERFACE.md group syntax: hold and thresholds per step, the rest from
 * rollout.hold and the guard (which itself keeps defaults it does not name). */
static void test_rollout_groups_inherit(void **state)
{
	struct weir_config *cfg;
	const struct cfg_rollout_step *s;

	(void)state;
	cfg = load_ok_extra(
	    "guard = { max_p99_ms = 300.0; max_p50_ms = 40; };\n"
	    "rollout = {\n"
	    "  steps = ( { weight = 1.0;  hold = \"2h\"; max_error_rate = 0.01;  max_p99_ms = 200.0; },\n"
	    "            { weight = 10.0; hold = \"4h\"; max_error_rate = 0.005; max_p99_ratio = \"off\"; },\n"
	    "            25,\n"
	    "            { weight = 100.0; max_error_rate = 0.001; } );\n"
	    "  hold = \"30m\";\n"
	    "};\n");
	assert_int_equal(cfg->rollout.nsteps, 4);
	assert_int_equal(cfg->rollout.hold_ms, 1800000);
	s = cfg->rollout.steps;
	assert_int_equal(s[0].weight, 100);
	assert_int_equal(s[0].hold_ms, 2 * 3600000);
	assert_thresholds(&s[0].thresholds, 0.01, 40.0, 200.0, NAN, 0.01, 1.5);
	assert_int_equal(s[1].weight, 1000);
	assert_int_equal(s[1].hold_ms, 4 * 3600000);
	assert_thresholds(&s[1].thresholds, 0.005, 40.0, 300.0, NAN, 0.01, NAN);
	assert_int_equal(s[2].weight, 2500);
	assert_int_equal(s[2].hold_ms, 1800000);
	assert_thresholds(&s[2].thresholds, 0.02, 40.0, 300.0, NAN, 0.01, 1.5);
	assert_int_equal(s[3].weight, 10000);
	assert_int_equal(s[3].hold_ms, 1800000);
	assert_thresholds(&s[3].thresholds, 0.001, 40.0, 300.0, NAN, 0.01, 1.5);
	/* The guard's own thresholds are untouched by the overrides. */
	assert_thresholds(&cfg->guard.thresholds, 0.02, 40.0, 300.0, NAN, 0.01, 1.5);
	config_free(cfg);
}

static void test_rollout_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "rollout = { steps = [ 10.0, 5.0 ]; };\n", 3,
		  "rollout.steps[1] must be greater than the step before it (10) (got 5)" },
		{ "rollout = { steps = [ 10.0, 10.0 ]; };\n", 3,
		  "rollout.steps[1] must be greater than the step before it" },
		{ "rollout = { steps = [ 0.0, 5.0 ]; };\n", 3,
		  "rollout.steps[0] must be greater than 0 (got 0)" },
		{ "rollout = { steps = [ 50.0, 100.5 ]; };\n", 3,
		  "rollout.steps[1] must be between 0 and 100 (got 100.5)" },
		{ "rollout = { steps = [ 1.005 ]; };\n", 3,
		  "rollout.steps[0] must be a multiple of 0.01" },
		{ "rollout = { steps = ( ); };\n", 3, "rollout.steps must not be empty" },
		{ "rollout = { hold = \"1m\"; };\n", 3, "rollout.steps is required" },
		{ "rollout = { steps = 5; };\n", 3, "rollout.steps must be a list" },
		{ "rollout = {\n steps = ( 1,\n { hold = \"1m\"; } ); };\n", 5,
		  "rollout.steps[1].weight is required" },
		{ "rollout = { steps = ( { weight = 5.0; max_error_rate = 3.0; } ); };\n", 3,
		  "rollout.steps[0].max_error_rate must be between 0 and 1 (got 3)" },
		{ "rollout = { steps = ( { weight = 5.0; hold = \"soon\"; } ); };\n", 3,
		  "rollout.steps[0].hold must be a duration" },
		{ "rollout = { steps = ( { weight = \"5\"; } ); };\n", 3,
		  "rollout.steps[0].weight must be a percentage, a number from 0 to 100 "
		  "(got string \"5\")" },
		{ "rollout = { steps = ( \"x\" ); };\n", 3,
		  "rollout.steps[0] must be a percentage or a group" },
		{ "rollout = { steps = [ 10.0 ]; auto = \"yes\"; };\n", 3,
		  "rollout.auto must be true or false (got string \"yes\")" },
		{ "rollout = { steps = [ 10.0 ]; hold = -1; };\n", 3,
		  "rollout.hold must be a duration" },
		{ "rollout = 5;\n", 3, "rollout must be a group { ... } (got integer 5)" },
	};

	(void)state;
	CHECK_CASES(cases);
}

/* ---- error kinds ---------------------------------------------------------- */

static void test_unknown_keys(void **state)
{
	static const struct error_case cases[] = {
		{ "bogus = 1;\n", 3, "unknown setting bogus" },
		{ "admin = { htp = \"127.0.0.1:9091\"; };\n", 3,
		  "unknown setting admin.htp (did you mean http?)" },
		{ "split = { canary_wieght = 5.0; };\n", 3,
		  "unknown setting split.canary_wieght (did you mean canary_weight?)" },
		{ "errors = { status = \"5xx\"; };\n", 3, "unknown setting errors.status" },
		{ "timeouts = { conect = \"1s\"; };\n", 3, "unknown setting timeouts.conect" },
		{ "limits = { max_conns = 5; };\n", 3, "unknown setting limits.max_conns" },
		{ "guard = {\n  enabled = true;\n  max_eror_rate = 0.1; };\n", 5,
		  "unknown setting guard.max_eror_rate (did you mean max_error_rate?)" },
		{ "rollout = { steps = [ 10.0 ]; holdd = \"1m\"; };\n", 3,
		  "unknown setting rollout.holdd" },
		{ "rollout = { steps = ( { weight = 10.0; max_p99ms = 5.0; } ); };\n", 3,
		  "unknown setting rollout.steps[0].max_p99ms" },
		{ "rollout = { steps = ( { weight = 10.0; action = \"alert\"; } ); };\n", 3,
		  "unknown setting rollout.steps[0].action" },
		{ "colour_of_the_bikeshed = \"blue\";\n", 3,
		  "unknown setting colour_of_the_bikeshed" },
	};
	char *text;

	(void)state;
	CHECK_CASES(cases);

	check_error_text("listen = ( { address = \"127.0.0.1:8080\"; tsl = {}; } );\n" MIN_POOLS,
	                 1, "unknown setting listen[0].tsl (did you mean tls?)");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); "
	                 "weight = 1; };\n canary = { servers = ( \"127.0.0.1:9101\" ); }; };\n",
	                 2, "unknown setting pools.baseline.weight");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { servers = ( \"127.0.0.1:9101\" ); }; balence = \"x\"; };\n",
	                 3, "unknown setting pools.balence (did you mean balance?)");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { servers = ( \"127.0.0.1:9101\" );\n"
	                 "   tls = { verfy = false; }; }; };\n",
	                 4, "unknown setting pools.canary.tls.verfy (did you mean verify?)");
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n tls = { certificate = "
	                   "\"%s\"; key = \"%s\";\n ciphers = \"x\"; }; } );\n" MIN_POOLS,
	                   cert_path, key_path);
	check_error_text(text, 3, "unknown setting listen[0].tls.ciphers");
	free(text);
}

static void test_wrong_types(void **state)
{
	static const struct error_case cases[] = {
		{ "workers = 2.0;\n", 3,
		  "workers must be an integer from 1 to 256 or \"auto\" (got float 2)" },
		{ "workers = \"many\";\n", 3, "(got string \"many\")" },
		{ "split = { canary_weight = \"5\"; };\n", 3,
		  "split.canary_weight must be a percentage, a number from 0 to 100 "
		  "(got string \"5\")" },
		{ "split = { expose_pool = \"yes\"; };\n", 3,
		  "split.expose_pool must be true or false (got string \"yes\")" },
		{ "split = { sticky_header = 5; };\n", 3,
		  "split.sticky_header must be a string (got integer 5)" },
		{ "guard = { max_error_rate = \"high\"; };\n", 3,
		  "guard.max_error_rate must be a number or \"off\" (got string \"high\")" },
		{ "guard = { min_requests = 1.5; };\n", 3,
		  "guard.min_requests must be an integer (got float 1.5)" },
		{ "guard = { enabled = 1; };\n", 3,
		  "guard.enabled must be true or false (got integer 1)" },
		{ "guard = { action = 1; };\n", 3,
		  "guard.action must be \"rollback\" or \"alert\" (got integer 1)" },
		{ "guard = 5;\n", 3, "guard must be a group { ... } (got integer 5)" },
		{ "guard = ( 1 );\n", 3, "guard must be a group { ... } (got a list)" },
		{ "limits = { max_connections = \"many\"; };\n", 3,
		  "limits.max_connections must be an integer (got string \"many\")" },
		{ "state_file = 5;\n", 3, "state_file must be a string (got integer 5)" },
		{ "access_log = false;\n", 3, "access_log must be a string (got boolean false)" },
		{ "admin = { socket = true; };\n", 3,
		  "admin.socket must be a string (got boolean true)" },
		{ "admin = { http = 9090; };\n", 3,
		  "admin.http must be a string (got integer 9090)" },
		{ "timeouts = { idle = true; };\n", 3,
		  "timeouts.idle must be a duration like \"250ms\", \"1.5s\", \"2m\", \"1h\" or a "
		  "number of milliseconds (got boolean true)" },
		{ "timeouts = { connect = 2.5; };\n", 3,
		  "timeouts.connect must be a duration" },
		{ "errors = { statuses = { a = 1; }; };\n", 3,
		  "errors.statuses must be \"5xx\", \"4xx\" or a list" },
		{ "errors = { statuses = ( 500, [ 1 ] ); };\n", 3,
		  "errors.statuses[1] must be \"5xx\", \"4xx\" or an HTTP status (got an array)" },
		{ "errors = { abandoned = \"yes\"; };\n", 3,
		  "errors.abandoned must be true or false (got string \"yes\")" },
		{ "errors = { abandon = true; };\n", 3, "abandon" },
		{ "split = { canary_weight = true; };\n", 3, "(got boolean true)" },
	};

	(void)state;
	CHECK_CASES(cases);
	check_error_text(MIN_LISTEN "pools = \"all\";\n", 2,
	                 "pools must be a group { ... } (got string \"all\")");
	check_error_text("listen = ( 8080 );\n" MIN_POOLS, 1,
	                 "listen[0] must be an address string or a group { address; tls; } "
	                 "(got integer 8080)");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( 9001 ); };\n"
	                 " canary = { servers = ( \"127.0.0.1:9101\" ); }; };\n", 2,
	                 "pools.baseline.servers[0] must be an address string \"host:port\" "
	                 "(got integer 9001)");
}

#define CHECK_POOLS(check) "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); }; " \
                           "canary = { servers = ( \"127.0.0.1:9101\" );\n" check " }; };\n"

static void assert_check_numbers(const struct cfg_check *ck, uint64_t interval_ms,
                                 uint64_t timeout_ms, uint32_t rise, uint32_t fall)
{
	assert_int_equal(ck->interval_ms, interval_ms);
	assert_int_equal(ck->timeout_ms, timeout_ms);
	assert_int_equal(ck->rise, rise);
	assert_int_equal(ck->fall, fall);
}

static void test_pool_check(void **state)
{
	struct weir_config *cfg;
	(void)state;

	/* No check: disabled. Defaults: HAProxy's. */
	cfg = load_ok(MIN);
	assert_false(cfg->pools[POOL_CANARY].check.enabled);
	config_free(cfg);
	cfg = load_ok(MIN_LISTEN CHECK_POOLS("check = { path = \"/healthz\"; };"));
	const struct cfg_check *ck = &cfg->pools[POOL_CANARY].check;
	assert_true(ck->enabled);
	assert_false(cfg->pools[POOL_BASELINE].check.enabled);
	assert_string_equal(ck->path, "/healthz");
	assert_check_numbers(ck, 2000, 1000, 2, 3);
	assert_true(check_status_in(ck->expect_bits, 200));
	assert_true(check_status_in(ck->expect_bits, 299));
	assert_false(check_status_in(ck->expect_bits, 301));
	config_free(cfg);
	/* Everything set; expect as a list; a short interval shortens the default timeout. */
	cfg = load_ok(MIN_LISTEN CHECK_POOLS("check = { path = \"/h?x=1\"; interval = \"500ms\"; "
	              "rise = 1; fall = 5; expect = ( 200, \"3xx\" ); };"));
	ck = &cfg->pools[POOL_CANARY].check;
	assert_check_numbers(ck, 500, 500, 1, 5);
	assert_true(check_status_in(ck->expect_bits, 200));
	assert_false(check_status_in(ck->expect_bits, 204));
	assert_true(check_status_in(ck->expect_bits, 302));
	config_free(cfg);
	cfg = load_ok(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; timeout = 300; "
	              "expect = \"200, 204\"; };"));
	ck = &cfg->pools[POOL_CANARY].check;
	assert_int_equal(ck->timeout_ms, 300);
	assert_true(check_status_in(ck->expect_bits, 204));
	assert_false(check_status_in(ck->expect_bits, 201));
	config_free(cfg);

	check_error_text(MIN_LISTEN CHECK_POOLS("check = { interval = \"1s\"; };"), 3,
	                 "pools.canary.check.path is required");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"healthz\"; };"), 3,
	                 "pools.canary.check.path must start with '/'");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/a b\"; };"), 3,
	                 "pools.canary.check.path must start with '/' and hold no spaces");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; interval = 0; };"), 3,
	                 "pools.canary.check.interval must be greater than 0");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; interval = \"1ms\"; };"), 3,
	                 "pools.canary.check.interval must be at least 100ms");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; timeout = \"3s\"; };"), 3,
	                 "pools.canary.check.timeout must not exceed pools.canary.check.interval (2s)");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; rise = 0; };"), 3,
	                 "pools.canary.check.rise must be between 1 and 100 (got 0)");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; fall = \"3\"; };"), 3,
	                 "pools.canary.check.fall must be an integer");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; expect = \"2xx, 6xx\"; };"), 3,
	                 "pools.canary.check.expect: \"6xx\" is neither a status class");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; expect = ( 200, 700 ); };"), 3,
	                 "pools.canary.check.expect[1]: \"700\" is neither");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; expect = ( ); };"), 3,
	                 "pools.canary.check.expect must be a status class");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; expect = true; };"), 3,
	                 "pools.canary.check.expect must be a status class like \"2xx\" or a status");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = { path = \"/\"; fal = 3; };"), 3,
	                 "unknown setting pools.canary.check.fal (did you mean fall?)");
	check_error_text(MIN_LISTEN CHECK_POOLS("check = \"/healthz\";"), 3,
	                 "pools.canary.check must be a group");
}

static void test_out_of_range(void **state)
{
	static const struct error_case cases[] = {
		{ "guard = { max_error_rate = 2.5; };\n", 3,
		  "guard.max_error_rate must be between 0 and 1 (got 2.5)" },
		{ "guard = { max_error_rate_increase = -0.1; };\n", 3,
		  "guard.max_error_rate_increase must be between 0 and 1 (got -0.1)" },
		{ "guard = { max_p50_ms = 0; };\n", 3, "guard.max_p50_ms must be greater than 0 (got 0)" },
		{ "guard = { max_p99_ms = 0.0; };\n", 3, "guard.max_p99_ms must be greater than 0" },
		{ "guard = { max_p999_ms = -5.0; };\n", 3,
		  "guard.max_p999_ms must be greater than 0 (got -5)" },
		{ "guard = { max_p99_ratio = 0.0; };\n", 3,
		  "guard.max_p99_ratio must be greater than 0 (got 0)" },
		{ "guard = { max_p99_ratio = 1e400; };\n", 3, "guard.max_p99_ratio must be" },
		{ "guard = { min_requests = -1; };\n", 3, "guard.min_requests must be at least 0 (got -1)" },
		{ "guard = { action = \"panic\"; };\n", 3,
		  "guard.action must be \"rollback\" or \"alert\" (got string \"panic\")" },
		{ "workers = 0;\n", 3, "workers must be between 1 and 256 (got 0)" },
		{ "workers = 257;\n", 3, "workers must be between 1 and 256 (got 257)" },
		{ "limits = { max_connections = 0; };\n", 3,
		  "limits.max_connections must be between 1 and 1000000 (got 0)" },
		{ "limits = { max_connections = 1000001; };\n", 3, "(got 1000001)" },
		{ "limits = { max_header_bytes = 1023; };\n", 3,
		  "limits.max_header_bytes must be between 1024 and 1048576 (got 1023)" },
		{ "limits = { max_header_bytes = 1048577; };\n", 3, "(got 1048577)" },
		{ "split = { canary_weight = 100.01; };\n", 3,
		  "split.canary_weight must be between 0 and 100 (got 100.01)" },
		{ "split = { canary_weight = -1; };\n", 3,
		  "split.canary_weight must be between 0 and 100 (got -1)" },
		{ "split = { canary_weight = 0.005; };\n", 3,
		  "split.canary_weight must be a multiple of 0.01" },
		{ "split = { canary_weight = 12.345; };\n", 3, "(got 12.345)" },
		{ "errors = { statuses = ( 600 ); };\n", 3,
		  "errors.statuses[0] must be an HTTP status between 100 and 599 (got 600)" },
		{ "errors = { statuses = 99; };\n", 3,
		  "errors.statuses must be an HTTP status between 100 and 599 (got 99)" },
		{ "errors = { statuses = \"3xx\"; };\n", 3,
		  "errors.statuses must be \"5xx\", \"4xx\" or an HTTP status from 100 to 599 "
		  "(got string \"3xx\")" },
		{ "errors = { statuses = ( \"5xx\", \"50x\" ); };\n", 3,
		  "errors.statuses[1] must be" },
		{ "split = { sticky_header = \"X User\"; };\n", 3,
		  "split.sticky_header must be a valid header name" },
		{ "split = { override_header = \"X-Pool:\"; };\n", 3,
		  "split.override_header must be a valid header name" },
		{ "split = { sticky_cookie = \"a=b\"; };\n", 3,
		  "split.sticky_cookie must be a valid cookie name" },
		{ "state_file = \"/tmp/s\";\nevent_log = \"/tmp/s\";\n", 4,
		  "event_log must not be the same file as state_file (got \"/tmp/s\")" },
	};

	char *text;

	(void)state;
	CHECK_CASES(cases);
	text = xasprintf_t(MIN "admin = { socket = \"/%0107d\"; };\n", 0);
	check_error_text(text, 3, "admin.socket is too long for a UNIX socket: 108 bytes, at most 107");
	free(text);
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { servers = ( \"127.0.0.1:9101\" ); };\n"
	                 " balance = \"random\"; };\n", 4,
	                 "pools.balance must be \"round_robin\" or \"least_conn\" "
	                 "(got string \"random\")");
}

static void test_duration_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "timeouts = { connect = \"5x\"; };\n", 3,
		  "timeouts.connect must be a duration like \"250ms\", \"1.5s\", \"2m\", \"1h\" or "
		  "a number of milliseconds (got string \"5x\")" },
		{ "timeouts = { connect = \"5\"; };\n", 3, "(got string \"5\")" },
		{ "timeouts = { connect = \"0s\"; };\n", 3,
		  "timeouts.connect must be greater than 0 (got \"0s\")" },
		{ "timeouts = { backend = 0; };\n", 3, "timeouts.backend must be greater than 0 (got 0)" },
		{ "timeouts = { idle = -5; };\n", 3, "timeouts.idle must be a duration" },
		{ "timeouts = { request_header = \"1.5ms\"; };\n", 3,
		  "timeouts.request_header must be a duration" },
		{ "timeouts = { connect = \"8761h\"; };\n", 3,
		  "timeouts.connect must be at most 8760h (got \"8761h\")" },
		{ "timeouts = { drain = \"-1s\"; };\n", 3, "timeouts.drain must be a duration" },
		{ "guard = { interval = \"0s\"; };\n", 3, "guard.interval must be greater than 0" },
		{ "guard = { window = \"500ms\"; };\n", 3, "guard.window must be at least 1s (got 500ms)" },
		{ "guard = { interval = \"2s\";\n window = \"1500ms\"; };\n", 4,
		  "guard.window must not be shorter than guard.interval (2s) (got 1.5s)" },
		{ "guard = { for = \"often\"; };\n", 3, "guard.for must be a duration" },
		{ "rollout = { steps = [ 10.0 ]; hold = \"abc\"; };\n", 3,
		  "rollout.hold must be a duration" },
	};

	(void)state;
	CHECK_CASES(cases);
}

static void test_address_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "admin = { http = \"example.com:80\"; };\n", 3,
		  "admin.http is not a valid address: host names other than localhost are not "
		  "resolved at startup (no DNS); use a numeric address (got \"example.com:80\")" },
		{ "admin = { http = \"127.0.0.1\"; };\n", 3, "admin.http is not a valid address: missing port" },
		{ "admin = { http = \"127.0.0.1:0\"; };\n", 3,
		  "the port must be a number from 1 to 65535 (got \"127.0.0.1:0\")" },
		{ "admin = { http = \"[::1]\"; };\n", 3, "missing port" },
		{ "admin = { http = \"::1:9090\"; };\n", 3, "must be written in brackets" },
	};

	(void)state;
	CHECK_CASES(cases);
	check_error_text("listen = ( \"127.0.0.1:8080\",\n \"localhost:8080\" );\n" MIN_POOLS, 2,
	                 "listen[1] duplicates listen[0] (line 1) (got \"localhost:8080\")");
	check_error_text("listen = ( \"127.0.0.1:8080\", \"127.0.0.1:9090\" );\n" MIN_POOLS, 1,
	                 "listen[1] is also the admin.http address");
	check_error_text("listen = ( \"127.0.0.1:8080\" );\nadmin = { http = \"127.0.0.1:8080\"; };\n"
	                 MIN_POOLS, 1, "listen[0] is also the admin.http address");
	check_error_text("listen = ( \"256.0.0.1:8080\" );\n" MIN_POOLS, 1,
	                 "listen[0] is not a valid address: bad IPv4 address");
	check_error_text("listen = ( );\n" MIN_POOLS, 1, "listen must not be empty");
	check_error_text(MIN_POOLS, 1, "listen is required");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { servers = ( \"canary.internal:9101\" ); }; };\n", 3,
	                 "pools.canary.servers[0] is not a valid address: host names other than "
	                 "localhost are not resolved");
}

static void test_pool_errors(void **state)
{
	char *text;

	(void)state;
	check_error_text(MIN_LISTEN "pools = {\n baseline = { servers = ( \"127.0.0.1:9001\" ); };\n};\n",
	                 2, "pools.canary is required: pools.baseline and pools.canary must both "
	                 "be defined");
	check_error_text(MIN_LISTEN "pools = {\n canary = { servers = ( \"127.0.0.1:9001\" ); };\n};\n",
	                 2, "pools.baseline is required");
	check_error_text(MIN_LISTEN, 1, "pools is required");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { servers = ( ); }; };\n", 3,
	                 "pools.canary.servers must not be empty");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { }; };\n", 3, "pools.canary.servers is required");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { servers = ( \"127.0.0.1:9101\" );\n"
	                 " tls = { ca = \"/nonexistent/ca.pem\"; }; }; };\n", 4,
	                 "pools.canary.tls.ca: cannot read CA file /nonexistent/ca.pem: "
	                 "No such file or directory");
	check_error_text(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                 " canary = { servers = ( \"127.0.0.1:9101\" );\n"
	                 " tls = { verify = \"no\"; }; }; };\n", 4,
	                 "pools.canary.tls.verify must be true or false (got string \"no\")");
	text = xasprintf_t(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                   " canary = { servers = ( \"127.0.0.1:9101\" );\n"
	                   " tls = { ca = \"%s\"; server_name = \"a b\"; }; }; };\n", ca_path);
	check_error_text(text, 4, "pools.canary.tls.server_name must be a host name without spaces");
	free(text);
	/* Readable is not enough: the CA file must hold certificates. */
	text = xasprintf_t(MIN_LISTEN "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	                   " canary = { servers = ( \"127.0.0.1:9101\" );\n"
	                   " tls = {\n ca = \"%s\"; }; }; };\n", junk_path);
	check_error_text(text, 5, "pools.canary.tls.ca: cannot load PEM CA certificates from");
	free(text);
}

static void test_listener_tls_errors(void **state)
{
	char *text;

	(void)state;
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"/nonexistent/cert.pem\"; key = \"%s\"; }; } );\n"
	                   MIN_POOLS, key_path);
	check_error_text(text, 2, "listen[0].tls.certificate: cannot read certificate "
	                 "/nonexistent/cert.pem: No such file or directory");
	free(text);
	check_errors_text("listen = ( { address = \"127.0.0.1:8443\";\n"
	                  " tls = { certificate = \"\"; key = \"/nonexistent/k\"; }; } );\n"
	                  MIN_POOLS, 2, 2, "listen[0].tls.key: cannot read key /nonexistent/k");
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\"; }; } );\n" MIN_POOLS, cert_path);
	check_error_text(text, 2, "listen[0].tls.key is required");
	free(text);
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { key = \"%s\"; }; } );\n" MIN_POOLS, key_path);
	check_error_text(text, 2, "listen[0].tls.certificate is required");
	free(text);
	text = xasprintf_t("listen = ( \"127.0.0.1:8080\", { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\"; key = \"%s\";\n min_version = \"1.1\"; }; } );\n"
	                   MIN_POOLS, cert_path, key_path);
	check_error_text(text, 3, "listen[1].tls.min_version must be \"1.2\" or \"1.3\" "
	                 "(got string \"1.1\")");
	free(text);
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\"; key = \"%s\"; min_version = 1.3; }; } );\n"
	                   MIN_POOLS, cert_path, key_path);
	check_error_text(text, 2, "(got float 1.3)");
	free(text);
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\"; key = \"%s\"; }; } );\n" MIN_POOLS,
	                   tmpdir, key_path);
	check_error_text(text, 2, "cannot read certificate");
	free(text);
	check_errors_text("listen = ( { tls = { }; } );\n" MIN_POOLS, 3, 1,
	                  "listen[0].address is required");
	check_errors_text("listen = ( { tls = { }; } );\n" MIN_POOLS, 3, 1,
	                  "listen[0].tls.certificate is required");
	/* Readable files that do not make a working pair, each at its own line. */
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\";\n key = \"%s\"; }; } );\n" MIN_POOLS,
	                   cert_path, other_key_path);
	check_error_text(text, 3, "listen[0].tls.key: private key");
	check_error_text(text, 3, "does not match certificate");
	free(text);
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\";\n key = \"%s\"; }; } );\n" MIN_POOLS,
	                   junk_path, key_path);
	check_error_text(text, 2, "listen[0].tls.certificate: cannot load a PEM certificate chain");
	free(text);
	text = xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\";\n key = \"%s\"; }; } );\n" MIN_POOLS,
	                   cert_path, junk_path);
	check_error_text(text, 3, "listen[0].tls.key: cannot load an unencrypted PEM private key");
	free(text);
}

/* Every error is reported, not just the first, in line order. */
static void test_multiple_errors(void **state)
{
	static const char text[] =
	    "listen = ( \"127.0.0.1:0\" );\n"                          /* 1 */
	    "workers = 0;\n"                                            /* 2 */
	    "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	    "  canary = { servers = ( \"127.0.0.1:9101\" ); }; };\n"
	    "split = { canary_weight = 101; };\n"                       /* 5 */
	    "guard = {\n"
	    "  max_eror_rate = 0.5;\n"                                  /* 7 */
	    "  max_error_rate = 2.5;\n"                                 /* 8 */
	    "};\n"
	    "timeouts = { connect = \"5x\"; };\n"                       /* 10 */
	    "bogus = 1;\n";                                             /* 11 */
	static const unsigned lines[] = { 1, 2, 5, 7, 8, 10, 11 };
	struct diag d;
	size_t i;

	(void)state;
	diag_init(&d);
	assert_null(config_load_string(text, "t.conf", &d));
	if (d.nerrors != 7 || d.nwarnings != 0) {
		dump(text, &d);
		fail_msg("expected 7 errors, got %zu (and %zu warnings)", d.nerrors, d.nwarnings);
	}
	for (i = 0; i < 7; i++) {
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "t.conf:%u: ", lines[i]);
		if (strncmp(d.msgs[i].text, prefix, strlen(prefix)) != 0) {
			dump(text, &d);
			fail_msg("message %zu should start with %s", i, prefix);
		}
	}
	diag_dispose(&d);
}

/* ---- the 30 s warning -------------------------------------------------- */

static void test_reaction_warning(void **state)
{
	struct diag d;
	struct weir_config *cfg;
	char *text;

	(void)state;
	text = xasprintf_t("%s%s", MIN,
	                   "guard = {\n interval = \"5s\";\n for = \"30s\"; method = \"window\"; };\n");
	diag_init(&d);
	cfg = config_load_string(text, "t.conf", &d);
	assert_non_null(cfg);
	assert_int_equal(d.nerrors, 0);
	assert_int_equal(d.nwarnings, 1);
	assert_int_equal(d.msgs[0].level, DIAG_WARNING);
	assert_string_equal(d.msgs[0].text,
	                    "t.conf:3: guard.interval + guard.for = 35s exceeds 30s: a breach may "
	                    "take longer than 30 seconds to change the weights");
	assert_int_equal(cfg->guard.for_ms, 30000);
	config_free(cfg);
	diag_dispose(&d);
	free(text);

	/* Exactly 30 s is within the promise; fractional sums print as such. */
	cfg = load_ok_extra("guard = { interval = \"5s\"; for = \"25s\"; method = \"window\"; };\n");
	config_free(cfg);
	diag_init(&d);
	cfg = config_load_string(MIN "guard = { interval = \"1s\"; for = \"29.5s\"; method = \"window\"; };\n",
	                         "t.conf", &d);
	assert_non_null(cfg);
	assert_int_equal(d.nwarnings, 1);
	assert_non_null(strstr(d.msgs[0].text, "= 30.5s exceeds 30s"));
	config_free(cfg);
	diag_dispose(&d);

	/* A warning does not hide errors, and errors still fail the load. */
	diag_init(&d);
	cfg = config_load_string(MIN "guard = { interval = \"40s\"; method = \"window\"; };\n", "t.conf", &d);
	assert_null(cfg);
	assert_int_equal(d.nerrors, 1);
	assert_int_equal(d.nwarnings, 1);
	assert_true(has_msg(&d, DIAG_ERROR, "t.conf", 3, "guard.window must not be shorter"));
	assert_true(has_msg(&d, DIAG_WARNING, "t.conf", 3, "= 45s exceeds 30s"));
	diag_dispose(&d);
}

/* ---- libconfig errors, files -------------------------------------------- */

static void test_syntax_error(void **state)
{
	struct diag d;

	(void)state;
	diag_init(&d);
	assert_null(config_load_string(MIN "guard = {\n enabled = ;\n};\n", "t.conf", &d));
	assert_int_equal(d.nerrors, 1);
	assert_string_equal(d.msgs[0].text, "t.conf:4: syntax error");
	diag_dispose(&d);

	diag_init(&d);
	assert_null(config_load_string(MIN "workers = 1;\nworkers = 2;\n", "t.conf", &d));
	assert_int_equal(d.nerrors, 1);
	assert_string_equal(d.msgs[0].text, "t.conf:4: duplicate setting name");
	diag_dispose(&d);
}

static void test_load_file(void **state)
{
	char path[160], *text;
	struct diag d;
	struct weir_config *cfg;

	(void)state;
	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);

	/* A valid file. */
	write_file(path, MIN);
	diag_init(&d);
	cfg = config_load(path, &d);
	assert_non_null(cfg);
	assert_int_equal(d.n, 0);
	assert_string_equal(cfg->path, path);
	config_free(cfg);
	diag_dispose(&d);

	/* A validation error names the file and the line. */
	write_file(path, MIN "\n\nguard = { max_error_rate = 2.5; };\n");
	diag_init(&d);
	assert_null(config_load(path, &d));
	assert_int_equal(d.nerrors, 1);
	text = xasprintf_t("%s:5: guard.max_error_rate must be between 0 and 1 (got 2.5)", path);
	assert_string_equal(d.msgs[0].text, text);
	free(text);
	diag_dispose(&d);

	/* So does a syntax error. */
	write_file(path, MIN "workers = \"auto\";\nguard = { enabled = };\n");
	diag_init(&d);
	assert_null(config_load(path, &d));
	assert_int_equal(d.nerrors, 1);
	text = xasprintf_t("%s:4: syntax error", path);
	assert_string_equal(d.msgs[0].text, text);
	free(text);
	diag_dispose(&d);

	/* A missing file. */
	unlink(path);
	diag_init(&d);
	assert_null(config_load(path, &d));
	assert_int_equal(d.nerrors, 1);
	text = xasprintf_t("%s: cannot read configuration file: %s", path, strerror(ENOENT));
	assert_string_equal(d.msgs[0].text, text);
	free(text);
	diag_dispose(&d);

	/* A directory. */
	diag_init(&d);
	assert_null(config_load(tmpdir, &d));
	assert_int_equal(d.nerrors, 1);
	assert_non_null(strstr(d.msgs[0].text, strerror(EISDIR)));
	diag_dispose(&d);
}

/* The shipped configurations load without errors or warnings. */
static void test_shipped_configs(void **state)
{
	static const char *const files[] = { "conf/weir.conf", "conf/demo.conf" };
	const char *top = getenv("top_srcdir");
	size_t i;

	(void)state;
	if (top == NULL)
		top = ".";
	for (i = 0; i < 2; i++) {
		char path[4096];
		struct diag d;
		struct weir_config *cfg;

		snprintf(path, sizeof(path), "%s/%s", top, files[i]);
		if (access(path, R_OK) != 0) {
			print_message("%s not found (set top_srcdir)\n", path);
			skip();
		}
		diag_init(&d);
		cfg = config_load(path, &d);
		if (cfg == NULL || d.n != 0) {
			diag_print(&d, stderr, "  ");
			fail_msg("%s should load cleanly", path);
		}
		if (i == 1) {
			/* The demo's promised values. */
			assert_ipv4(&cfg->listeners[0].addr, "127.0.0.1:8080", "127.0.0.1", 8080);
			assert_string_equal(cfg->admin_socket, "/tmp/weir-demo/weir.sock");
			assert_int_equal(cfg->pools[POOL_BASELINE].nservers, 1);
			assert_int_equal(cfg->pools[POOL_CANARY].nservers, 1);
			assert_int_equal(cfg->split.canary_weight, 1000);
			assert_true(cfg->split.expose_pool);
			assert_int_equal(cfg->guard.method, GUARD_METHOD_SEQUENTIAL);
			assert_string_equal(cfg->state_file, "/tmp/weir-demo/state");
		}
		config_free(cfg);
		diag_dispose(&d);
	}
}

/* ---- guard.method and guard.alpha ----------------------------------------- */

static void test_guard_method(void **state)
{
	struct weir_config *cfg;
	struct diag d;
	static const char *const unused[] = { "interval", "window", "min_requests", "for" };

	(void)state;
	/* defaults */
	cfg = load_ok(MIN);
	assert_int_equal(cfg->guard.method, GUARD_METHOD_SEQUENTIAL);
	assert_true(cfg->guard.alpha == 0.001);
	config_free(cfg);
	cfg = load_ok_extra("guard = { method = \"sequential\"; alpha = 0.01; };\n");
	assert_int_equal(cfg->guard.method, GUARD_METHOD_SEQUENTIAL);
	assert_true(cfg->guard.alpha == 0.01);
	config_free(cfg);
	cfg = load_ok_extra("guard = { method = \"window\"; for = \"0s\"; min_requests = 5; };\n");
	assert_int_equal(cfg->guard.method, GUARD_METHOD_WINDOW);
	config_free(cfg);

	/* window-only keys under sequential: one warning each, at the key's line */
	diag_init(&d);
	cfg = config_load_string(MIN "guard = {\n interval = \"1s\";\n window = \"30s\";\n"
	                         " min_requests = 10;\n for = \"5s\"; };\n", "t.conf", &d);
	assert_non_null(cfg);
	assert_int_equal(d.nerrors, 0);
	assert_int_equal(d.nwarnings, 4);
	for (size_t i = 0; i < 4; i++) {
		char want[160];

		snprintf(want, sizeof(want), "t.conf:%zu: guard.%s is unused under guard.method "
		         "\"sequential\" (it applies to \"window\" only)", i + 4, unused[i]);
		assert_string_equal(d.msgs[i].text, want);
	}
	config_free(cfg);
	diag_dispose(&d);

	static const struct error_case cases[] = {
		{ "guard = { method = \"fast\"; };\n", 3,
		  "guard.method must be \"sequential\" or \"window\" (got string \"fast\")" },
		{ "guard = { method = 1; };\n", 3, "guard.method must be \"sequential\" or \"window\"" },
		{ "guard = { alpha = 0.5; };\n", 3,
		  "guard.alpha must be greater than 0 and less than 0.5 (got 0.5)" },
		{ "guard = { alpha = 0; };\n", 3, "guard.alpha must be greater than 0 and less than 0.5" },
		{ "guard = { alpha = -0.1; };\n", 3, "guard.alpha must be greater than 0" },
		{ "guard = { alpha = \"small\"; };\n", 3, "guard.alpha must be a number (got string" },
	};
	CHECK_CASES(cases);
}

/* ---- public parsers ------------------------------------------------------- */

static void test_parse_duration(void **state)
{
	static const struct { const char *text; uint64_t ms; } good[] = {
		{ "1ms", 1 }, { "250ms", 250 }, { "5s", 5000 }, { "1.5s", 1500 },
		{ "2m", 120000 }, { "1h", 3600000 }, { "0s", 0 }, { "0ms", 0 },
		{ "0.001s", 1 }, { "0.1s", 100 }, { "1.25m", 75000 }, { "0.5h", 1800000 },
		{ "10m", 600000 }, { "1.0000000000s", 1000 }, { "0.000005h", 18 },
		{ "18446744073709551615ms", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "5", "5x", "-1s", "+1s", "1.5ms", "s", ".5s", "5.s", "5 s", " 5s", "5s ",
		"5S", "1e3ms", "5ss", "1.0001s", "0.0001s", "1.0000000001s",
		"18446744073709551616ms", "99999999999999h", "5124095576031h", "1..5s", "0x10s",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t ms = 12345;

		if (config_parse_duration(good[i].text, &ms) != 0)
			fail_msg("\"%s\" should parse", good[i].text);
		if (ms != good[i].ms)
			fail_msg("\"%s\": expected %llu ms, got %llu", good[i].text,
			         (unsigned long long)good[i].ms, (unsigned long long)ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 12345;

		if (config_parse_duration(bad[i], &ms) != -1)
			fail_msg("\"%s\" should be rejected (got %llu ms)", bad[i],
			         (unsigned long long)ms);
		assert_int_equal(ms, 12345);
	}
	{
		uint64_t ms;

		assert_int_equal(config_parse_duration(NULL, &ms), -1);
	}
}

static void test_parse_address(void **state)
{
	static const struct { const char *text; int family; const char *ip; unsigned port; } good[] = {
		{ "127.0.0.1:80", AF_INET, "127.0.0.1", 80 },
		{ "0.0.0.0:8443", AF_INET, "0.0.0.0", 8443 },
		{ "255.255.255.255:65535", AF_INET, "255.255.255.255", 65535 },
		{ "10.1.2.3:1", AF_INET, "10.1.2.3", 1 },
		{ "localhost:80", AF_INET, "127.0.0.1", 80 },
		{ "LocalHost:8080", AF_INET, "127.0.0.1", 8080 },
		{ "[::1]:80", AF_INET6, "::1", 80 },
		{ "[::]:8080", AF_INET6, "::", 8080 },
		{ "[2001:db8::5]:443", AF_INET6, "2001:db8::5", 443 },
		{ "[::ffff:10.0.0.1]:9", AF_INET6, "::ffff:10.0.0.1", 9 },
	};
	static const struct { const char *text; const char *why; } bad[] = {
		{ "", "empty" },
		{ "127.0.0.1", "missing port" },
		{ "127.0.0.1:", "missing port" },
		{ "127.0.0.1:0", "from 1 to 65535" },
		{ "127.0.0.1:65536", "from 1 to 65535" },
		{ "127.0.0.1:1000000", "from 1 to 65535" },
		{ "127.0.0.1:-1", "from 1 to 65535" },
		{ "127.0.0.1:8o", "from 1 to 65535" },
		{ "127.0.0.1: 80", "from 1 to 65535" },
		{ "a:b", "" },
		{ "a:80", "host names other than localhost" },
		{ "example.com:80", "host names other than localhost are not resolved" },
		{ "localhost.localdomain:80", "host names" },
		{ "[::1]", "missing port" },
		{ "[::1", "missing ']'" },
		{ "[::1]80", "expected ':'" },
		{ "::1:80", "brackets" },
		{ ":80", "missing host" },
		{ "[]:80", "missing host" },
		{ "[zz::1]:80", "bad IPv6 address" },
		{ "[127.0.0.1]:80", "bad IPv6 address" },
		{ "1.2.3:80", "bad IPv4 address" },
		{ "256.1.1.1:80", "bad IPv4 address" },
		{ "*:80", "host names" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		const char *why = NULL;
		char buf[INET6_ADDRSTRLEN];
		unsigned port;
		const void *a;

		if (config_parse_address(good[i].text, &ss, &len, &why) != 0)
			fail_msg("\"%s\" should parse (%s)", good[i].text, why);
		assert_int_equal(ss.ss_family, good[i].family);
		if (good[i].family == AF_INET) {
			assert_int_equal(len, sizeof(struct sockaddr_in));
			a = &((struct sockaddr_in *)&ss)->sin_addr;
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else {
			assert_int_equal(len, sizeof(struct sockaddr_in6));
			a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		assert_non_null(inet_ntop(good[i].family, a, buf, sizeof(buf)));
		assert_string_equal(buf, good[i].ip);
		assert_int_equal(port, good[i].port);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len = 99;
		const char *why = NULL;

		if (config_parse_address(bad[i].text, &ss, &len, &why) != -1)
			fail_msg("\"%s\" should be rejected", bad[i].text);
		assert_non_null(why);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("\"%s\": reason \"%s\" should mention \"%s\"", bad[i].text, why,
			         bad[i].why);
	}
}

static void test_percent_to_weight(void **state)
{
	static const struct { double percent; uint32_t weight; } good[] = {
		{ 5, 500 }, { 0.01, 1 }, { 100, 10000 }, { 0, 0 }, { -0.0, 0 }, { 0.29, 29 },
		{ 33.33, 3333 }, { 99.99, 9999 }, { 50.5, 5050 }, { 1.1, 110 }, { 12.34, 1234 },
	};
	static const double bad[] = {
		0.005, 100.01, -1, -0.01, 12.345, 0.001, 1e9, 100.000001,
	};
	size_t i;
	uint32_t w;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		w = 777777;
		if (config_percent_to_weight(good[i].percent, &w) != 0)
			fail_msg("%.17g should be accepted", good[i].percent);
		if (w != good[i].weight)
			fail_msg("%.17g: expected %u, got %u", good[i].percent, good[i].weight, w);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = 777777;
		if (config_percent_to_weight(bad[i], &w) != -1)
			fail_msg("%.17g should be rejected (got %u)", bad[i], w);
		assert_int_equal(w, 777777);
	}
	assert_int_equal(config_percent_to_weight(NAN, &w), -1);
	assert_int_equal(config_percent_to_weight(INFINITY, &w), -1);
	assert_int_equal(config_percent_to_weight(-INFINITY, &w), -1);
}

/* ---- diag ------------------------------------------------------------------ */

static void test_diag(void **state)
{
	struct diag d;
	char *joined, buf[256];
	FILE *f;
	size_t n;

	(void)state;
	diag_init(&d);
	joined = diag_join_errors(&d);
	assert_string_equal(joined, "");
	free(joined);
	diag_add(&d, DIAG_ERROR, "f:%d: %s", 1, "first");
	diag_add(&d, DIAG_WARNING, "f:2: careful");
	diag_add(&d, DIAG_ERROR, "f:3: second (got %.1f)", 2.5);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.nerrors, 2);
	assert_int_equal(d.nwarnings, 1);
	joined = diag_join_errors(&d);
	assert_string_equal(joined, "f:1: first; f:3: second (got 2.5)");
	free(joined);

	f = tmpfile();
	assert_non_null(f);
	diag_print(&d, f, "weir");
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "weir: f:1: first\nweir: warning: f:2: careful\n"
	                    "weir: f:3: second (got 2.5)\n");
	diag_dispose(&d);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.nerrors, 0);
	assert_null(d.msgs);

	/* Growth past the first allocation. */
	for (n = 0; n < 100; n++)
		diag_add(&d, DIAG_WARNING, "w%zu", n);
	assert_int_equal(d.nwarnings, 100);
	assert_string_equal(d.msgs[99].text, "w99");
	diag_dispose(&d);
}

/* A diagnostic stays on one line whatever the file contains, and long
 * values are cut. */
static void test_quoting(void **state)
{
	struct diag d;
	char *text;

	(void)state;
	check_error_text(MIN "guard = { action = \"a\\\"b\\nc\"; };\n", 3,
	                 "guard.action must be \"rollback\" or \"alert\" "
	                 "(got string \"a\\\"b\\x0ac\")");
	text = xasprintf_t(MIN "guard = { action = \"%0100d\"; };\n", 0);
	diag_init(&d);
	assert_null(config_load_string(text, "t.conf", &d));
	assert_int_equal(d.nerrors, 1);
	assert_null(strchr(d.msgs[0].text, '\n'));
	assert_non_null(strstr(d.msgs[0].text, "0000...\")"));
	assert_true(strlen(d.msgs[0].text) < 200);
	diag_dispose(&d);
	free(text);
}

/* The cluster group: defaults, endpoints kept as host:port, and every
 * refusal with its line. */
static void test_cluster(void **state)
{
	struct weir_config *cfg;
	char host[256] = "";

	(void)state;
	cfg = load_ok_extra("");
	assert_false(cfg->cluster.present);
	assert_int_equal(cfg->cluster.netcd, 0);
	config_free(cfg);

	cfg = load_ok_extra("cluster = { etcd = ( \"http://127.0.0.1:2379\", \"http://[::1]:2380/\", "
	                    "\"HTTP://localhost:2381\" );\n name = \"shop\"; node = \"weir-a\"; ttl = \"7s\"; };\n");
	assert_true(cfg->cluster.present);
	assert_int_equal(cfg->cluster.netcd, 3);
	assert_string_equal(cfg->cluster.etcd[0].text, "127.0.0.1:2379");
	assert_string_equal(cfg->cluster.etcd[1].text, "[::1]:2380");
	assert_string_equal(cfg->cluster.etcd[2].text, "localhost:2381");
	assert_int_equal(cfg->cluster.etcd[2].line, 3);
	assert_string_equal(cfg->cluster.name, "shop");
	assert_string_equal(cfg->cluster.node, "weir-a");
	assert_int_equal(cfg->cluster.ttl_ms, 7000);
	config_free(cfg);

	/* One endpoint as a string; ttl 5s and the host name by default. */
	cfg = load_ok_extra("cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"a.b_c-d\"; };\n");
	assert_int_equal(cfg->cluster.netcd, 1);
	assert_int_equal(cfg->cluster.ttl_ms, 5000);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(cfg->cluster.node, host);
	config_free(cfg);

	static const struct error_case cases[] = {
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"s\";\n endpoints = 1; };\n", 4,
		  "unknown setting cluster.endpoints" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"s\";\n nodes = \"a\"; };\n", 4,
		  "unknown setting cluster.nodes (did you mean node?)" },
		{ "cluster = { name = \"s\"; };\n", 3, "cluster.etcd is required" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; };\n", 3, "cluster.name is required" },
		{ "cluster = { etcd = \"https://127.0.0.1:2379\"; name = \"s\"; };\n", 3,
		  "cluster.etcd: https endpoints are not supported yet" },
		{ "cluster = { etcd = \"127.0.0.1:2379\"; name = \"s\"; };\n", 3,
		  "cluster.etcd must be an endpoint \"http://host:port\"" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379/v3\"; name = \"s\"; };\n", 3, "without a path" },
		{ "cluster = { etcd = \"http://etcd.internal:2379\"; name = \"s\"; };\n", 3,
		  "not resolved at startup" },
		{ "cluster = { etcd = \"http://127.0.0.1\"; name = \"s\"; };\n", 3, "missing port" },
		{ "cluster = { etcd = ( \"http://127.0.0.1:2379\",\n \"http://127.0.0.1:2379/\" ); name = \"s\"; };\n",
		  4, "cluster.etcd[1] duplicates cluster.etcd[0]" },
		{ "cluster = { etcd = ( ); name = \"s\"; };\n", 3, "must list 1 to 16 endpoints (got 0)" },
		{ "cluster = { etcd = 2379; name = \"s\"; };\n", 3, "must be an endpoint string" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"a/b\"; };\n", 3,
		  "cluster.name must be 1 to 64 letters" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"..\"; };\n", 3, "cluster.name must be" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"s\"; node = \"\"; };\n", 3,
		  "cluster.node must be" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"s\"; ttl = \"1s\"; };\n", 3,
		  "cluster.ttl must be whole seconds from 2s to 300s" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"s\"; ttl = \"2500ms\"; };\n", 3,
		  "cluster.ttl must be whole seconds" },
		{ "cluster = { etcd = \"http://127.0.0.1:2379\"; name = \"s\"; ttl = \"6m\"; };\n", 3,
		  "cluster.ttl must be whole seconds" },
		{ "cluster = \"shop\";\n", 3, "cluster must be a group" },
	};
	CHECK_CASES(cases);
}

/* ---- HTTP/2 and gRPC (INTERFACE.md "HTTP/2 and gRPC") ----------------------------- */

/* A TLS listener on 127.0.0.1:8443 whose group goes on with EXTRA (line 1 is
 * the address, line 2 the tls group, EXTRA from line 3), then MIN_POOLS.
 * Release with free. */
static char *tls_listener(const char *extra)
{
	return xasprintf_t("listen = ( { address = \"127.0.0.1:8443\";\n"
	                   " tls = { certificate = \"%s\"; key = \"%s\"; };\n%s } );\n" MIN_POOLS,
	                   cert_path, key_path, extra);
}

/* PROTOCOLS (a listen[0].protocols value) on a TLS listener loads with BITS
 * and H2_FIRST. */
static void assert_tls_protocols(const char *protocols, unsigned bits, bool h2_first)
{
	char *extra = xasprintf_t(" protocols = %s;", protocols);
	char *text = tls_listener(extra);
	struct weir_config *cfg = load_ok(text);

	assert_true(cfg->listeners[0].tls);
	assert_int_equal(cfg->listeners[0].protocols, bits);
	assert_int_equal(cfg->listeners[0].h2_first, h2_first);
	config_free(cfg);
	free(text);
	free(extra);
}

/* The same on a plain listener. */
static void assert_plain_protocols(const char *protocols, unsigned bits)
{
	char *text = xasprintf_t("listen = ( { address = \"127.0.0.1:8080\"; protocols = %s; } );\n"
	                         MIN_POOLS, protocols);
	struct weir_config *cfg = load_ok(text);

	assert_false(cfg->listeners[0].tls);
	assert_int_equal(cfg->listeners[0].protocols, bits);
	assert_false(cfg->listeners[0].h2_first);
	config_free(cfg);
	free(text);
}

static void test_listen_protocols(void **state)
{
	struct weir_config *cfg;
	char *text;

	(void)state;
	/* Defaults: h2 then http/1.1 with tls, http/1.1 without. */
	text = xasprintf_t("listen = ( \"127.0.0.1:8080\", { address = \"127.0.0.1:8081\"; },\n"
	                   " { address = \"127.0.0.1:8443\";\n"
	                   "   tls = { certificate = \"%s\"; key = \"%s\"; }; } );\n" MIN_POOLS,
	                   cert_path, key_path);
	cfg = load_ok(text);
	free(text);
	assert_int_equal(cfg->listeners[0].protocols, CFG_PROTO_HTTP1);
	assert_false(cfg->listeners[0].h2_first);
	assert_int_equal(cfg->listeners[1].protocols, CFG_PROTO_HTTP1);
	assert_false(cfg->listeners[1].h2_first);
	assert_int_equal(cfg->listeners[2].protocols, CFG_PROTO_H2 | CFG_PROTO_HTTP1);
	assert_true(cfg->listeners[2].h2_first);
	config_free(cfg);

	/* TLS: the order is the server's ALPN preference. */
	assert_tls_protocols("( \"h2\", \"http/1.1\" )", CFG_PROTO_H2 | CFG_PROTO_HTTP1, true);
	assert_tls_protocols("( \"http/1.1\", \"h2\" )", CFG_PROTO_H2 | CFG_PROTO_HTTP1, false);
	assert_tls_protocols("( \"http/1.1\" )", CFG_PROTO_HTTP1, false);
	assert_tls_protocols("( \"h2\" )", CFG_PROTO_H2, true);
	assert_tls_protocols("\"h2\"", CFG_PROTO_H2, true);
	assert_tls_protocols("[ \"http/1.1\", \"h2\" ]", CFG_PROTO_H2 | CFG_PROTO_HTTP1, false);
	/* Plain: h2c alone (prior knowledge) or beside http/1.1 (told apart by
	 * the connection preface), in either order. */
	assert_plain_protocols("( \"h2c\" )", CFG_PROTO_H2C);
	assert_plain_protocols("( \"http/1.1\", \"h2c\" )", CFG_PROTO_HTTP1 | CFG_PROTO_H2C);
	assert_plain_protocols("( \"h2c\", \"http/1.1\" )", CFG_PROTO_HTTP1 | CFG_PROTO_H2C);
	assert_plain_protocols("\"http/1.1\"", CFG_PROTO_HTTP1);

	/* Errors: file:line of the element, and the element's path. */
	check_error_text("listen = ( { address = \"127.0.0.1:8080\";\n protocols = ( ); } );\n" MIN_POOLS,
	                 2, "listen[0].protocols must not be empty: list one or more of \"h2\", "
	                 "\"http/1.1\" or \"h2c\" (got an empty list)");
	check_error_text("listen = ( \"127.0.0.1:8081\", { address = \"127.0.0.1:8080\";\n"
	                 " protocols = ( \"http/1.1\",\n \"http/2\" ); } );\n" MIN_POOLS, 3,
	                 "listen[1].protocols[1] must be \"h2\", \"http/1.1\" or \"h2c\" "
	                 "(got string \"http/2\")");
	check_error_text("listen = ( { address = \"127.0.0.1:8080\"; protocols = ( \"HTTP/1.1\" ); } );\n"
	                 MIN_POOLS, 1, "listen[0].protocols[0] must be \"h2\", \"http/1.1\" or \"h2c\" "
	                 "(got string \"HTTP/1.1\")");
	check_error_text("listen = ( { address = \"127.0.0.1:8080\"; protocols = ( 2 ); } );\n"
	                 MIN_POOLS, 1, "listen[0].protocols[0] must be \"h2\", \"http/1.1\" or \"h2c\" "
	                 "(got integer 2)");
	check_error_text("listen = ( { address = \"127.0.0.1:8080\"; protocols = \"h3\"; } );\n"
	                 MIN_POOLS, 1, "listen[0].protocols must be \"h2\", \"http/1.1\" or \"h2c\" "
	                 "(got string \"h3\")");
	check_error_text("listen = ( { address = \"127.0.0.1:8080\"; protocols = { h2c = true; }; } );\n"
	                 MIN_POOLS, 1, "listen[0].protocols must be a list of \"h2\", \"http/1.1\" or "
	                 "\"h2c\", like ( \"h2\", \"http/1.1\" ) (got a group)");
	check_error_text("listen = ( { address = \"127.0.0.1:8080\";\n protocols = ( \"h2c\",\n"
	                 " \"h2c\" ); } );\n" MIN_POOLS, 3,
	                 "listen[0].protocols[1] duplicates listen[0].protocols[0] (got \"h2c\")");
	check_error_text("listen = ( { address = \"127.0.0.1:8080\";\n protocols = ( \"h2\", \"http/1.1\" ); } );\n"
	                 MIN_POOLS, 2, "listen[0].protocols[0]: \"h2\" needs tls (it is chosen by ALPN): "
	                 "add a tls group, or use \"h2c\" for HTTP/2 in cleartext (got \"h2\")");
	check_error_text("listen = ( \"127.0.0.1:8080\",\n { address = \"127.0.0.1:8081\"; protocols = \"h2\"; } );\n"
	                 MIN_POOLS, 2, "listen[1].protocols: \"h2\" needs tls");
	text = tls_listener(" protocols = ( \"h2\",\n \"h2c\" );");
	check_error_text(text, 4, "listen[0].protocols[1]: \"h2c\" is HTTP/2 in cleartext and this "
	                 "listener has tls; use \"h2\" (got \"h2c\")");
	free(text);
	text = tls_listener(" protocols = ( \"http/1.1\", \"h2\", \"http/1.1\" );");
	check_error_text(text, 3, "listen[0].protocols[2] duplicates listen[0].protocols[0] "
	                 "(got \"http/1.1\")");
	free(text);
	/* Every bad element is reported. */
	check_errors_text("listen = ( { address = \"127.0.0.1:8080\";\n protocols = ( \"h2\", \"spdy\" ); } );\n"
	                  MIN_POOLS, 2, 2, "(got string \"spdy\")");
	check_error_text("listen = ( { address = \"127.0.0.1:8080\"; protocol = ( \"h2c\" ); } );\n"
	                 MIN_POOLS, 1, "unknown setting listen[0].protocol (did you mean protocols?)");
}

static void test_pool_protocol(void **state)
{
	struct weir_config *cfg;

	(void)state;
	cfg = load_ok(MIN);
	assert_int_equal(cfg->pools[POOL_BASELINE].protocol, POOL_PROTO_HTTP1);
	assert_int_equal(cfg->pools[POOL_CANARY].protocol, POOL_PROTO_HTTP1);
	config_free(cfg);
	cfg = load_ok(MIN_LISTEN CHECK_POOLS("protocol = \"http/1.1\";"));
	assert_int_equal(cfg->pools[POOL_CANARY].protocol, POOL_PROTO_HTTP1);
	config_free(cfg);

	cfg = load_ok(MIN_LISTEN CHECK_POOLS("protocol = \"h2\";"));
	assert_int_equal(cfg->pools[POOL_CANARY].protocol, POOL_PROTO_H2);
	assert_int_equal(cfg->pools[POOL_BASELINE].protocol, POOL_PROTO_HTTP1);
	config_free(cfg);
	/* an h2 pool takes a check (it speaks HTTP/2), checked the same way */
	cfg = load_ok(MIN_LISTEN CHECK_POOLS("protocol = \"h2\"; check = { path = \"/healthz\"; "
	              "interval = \"500ms\"; rise = 1; fall = 5; expect = \"200, 204\"; };"));
	assert_int_equal(cfg->pools[POOL_CANARY].protocol, POOL_PROTO_H2);
	assert_true(cfg->pools[POOL_CANARY].check.enabled);
	assert_string_equal(cfg->pools[POOL_CANARY].check.path, "/healthz");
	assert_check_numbers(&cfg->pools[POOL_CANARY].check, 500, 500, 1, 5);
	assert_true(check_status_in(cfg->pools[POOL_CANARY].check.expect_bits, 204));
	config_free(cfg);
	check_error_text(MIN_LISTEN CHECK_POOLS("protocol = \"h2\"; check = { interval = \"1s\"; };"), 3,
	                 "pools.canary.check.path is required");
	check_error_text(MIN_LISTEN CHECK_POOLS("protocol = \"h2\"; check = { path = \"/\"; fal = 3; };"), 3,
	                 "unknown setting pools.canary.check.fal (did you mean fall?)");
	check_error_text(MIN_LISTEN CHECK_POOLS("protocol = \"h2c\";"), 3,
	                 "pools.canary.protocol must be \"http/1.1\" or \"h2\" (got string \"h2c\")");
	check_error_text(MIN_LISTEN CHECK_POOLS("protocol = 2;"), 3,
	                 "pools.canary.protocol must be \"http/1.1\" or \"h2\" (got integer 2)");
	check_error_text(MIN_LISTEN CHECK_POOLS("protocols = \"http/1.1\";"), 3,
	                 "unknown setting pools.canary.protocols (did you mean protocol?)");
}

static void assert_grpc_set(const char *extra, grpc_status_set want)
{
	struct weir_config *cfg = load_ok_extra(extra);

	assert_int_equal(cfg->errors.grpc, want);
	config_free(cfg);
}

#define BIT(code) ((grpc_status_set)1 << (code))

static void test_errors_grpc(void **state)
{
	static const struct error_case cases[] = {
		{ "errors = { grpc = \"NOPE\"; };\n", 3,
		  "errors.grpc: gRPC status list: \"NOPE\" is not a status (a name such as UNAVAILABLE, "
		  "or 0 to 16) (got \"NOPE\")" },
		{ "errors = { grpc = \"UNKNOWN, 17\"; };\n", 3, "errors.grpc: gRPC status list: \"17\" is not a status" },
		{ "errors = { grpc = \"unknown, UNKNOWN\"; };\n", 3,
		  "errors.grpc: gRPC status list: \"UNKNOWN\" is listed twice (got \"unknown, UNKNOWN\")" },
		{ "errors = { grpc = \"14,\"; };\n", 3, "errors.grpc: gRPC status list: has an empty element" },
		{ "errors = { grpc = 14; };\n", 3,
		  "errors.grpc must be a string of gRPC status names or numbers separated by commas, like "
		  "\"UNAVAILABLE, INTERNAL\" (got integer 14)" },
		{ "errors = { grpc = ( \"UNAVAILABLE\", \"INTERNAL\" ); };\n", 3,
		  "errors.grpc must be a string of gRPC status names or numbers separated by commas, like "
		  "\"UNAVAILABLE, INTERNAL\" (got a list)" },
		{ "errors = { grpc = \"UNAVAILABLE\\nINTERNAL\"; };\n", 3,
		  "errors.grpc must be a string of gRPC status names or numbers separated by commas, like "
		  "\"UNAVAILABLE, INTERNAL\" (got string \"UNAVAILABLE\\x0aINTERNAL\")" },
		{ "errors = {\n grcp = \"14\"; };\n", 4, "unknown setting errors.grcp (did you mean grpc?)" },
	};
	struct weir_config *cfg;

	(void)state;
	/* Default: INTERFACE.md's list. */
	assert_grpc_set("", BIT(2) | BIT(4) | BIT(12) | BIT(13) | BIT(14) | BIT(15));
	assert_grpc_set("errors = { statuses = \"4xx\"; };\n",
	                BIT(2) | BIT(4) | BIT(12) | BIT(13) | BIT(14) | BIT(15));
	assert_grpc_set("errors = { grpc = \"unavailable, 4,\\tINTERNAL\"; };\n", BIT(14) | BIT(4) | BIT(13));
	assert_grpc_set("errors = { grpc = \"\"; };\n", 0);
	/* Either order of statuses and grpc: neither replaces the other. */
	cfg = load_ok_extra("errors = { grpc = \"NOT_FOUND\"; statuses = ( 429, \"5xx\" ); abandoned = false; };\n");
	assert_int_equal(cfg->errors.grpc, BIT(5));
	assert_true(cfg_status_is_error(&cfg->errors, 429));
	assert_true(cfg_status_is_error(&cfg->errors, 503));
	assert_false(cfg_status_is_error(&cfg->errors, 404));
	assert_false(cfg->errors.abandoned);
	config_free(cfg);
	CHECK_CASES(cases);
}

static void test_h2_max_streams(void **state)
{
	static const struct error_case cases[] = {
		{ "limits = { h2_max_streams = 0; };\n", 3,
		  "limits.h2_max_streams must be between 1 and 10000 (got 0)" },
		{ "limits = { h2_max_streams = 10001; };\n", 3,
		  "limits.h2_max_streams must be between 1 and 10000 (got 10001)" },
		{ "limits = { h2_max_streams = -1; };\n", 3, "(got -1)" },
		{ "limits = { h2_max_streams = \"100\"; };\n", 3,
		  "limits.h2_max_streams must be an integer (got string \"100\")" },
		{ "limits = { h2_max_streams = 1.5; };\n", 3, "must be an integer (got float 1.5)" },
		{ "limits = { h2_max_stream = 5; };\n", 3,
		  "unknown setting limits.h2_max_stream (did you mean h2_max_streams?)" },
	};
	struct weir_config *cfg;

	(void)state;
	cfg = load_ok(MIN);
	assert_int_equal(cfg->limits.h2_max_streams, 100);
	config_free(cfg);
	cfg = load_ok_extra("limits = { h2_max_streams = 1; };\n");
	assert_int_equal(cfg->limits.h2_max_streams, 1);
	assert_int_equal(cfg->limits.max_connections, 10000);
	config_free(cfg);
	cfg = load_ok_extra("limits = { h2_max_streams = 10000; max_header_bytes = 2048; };\n");
	assert_int_equal(cfg->limits.h2_max_streams, 10000);
	assert_int_equal(cfg->limits.max_header_bytes, 2048);
	config_free(cfg);
	CHECK_CASES(cases);
}

/* The example of INTERFACE.md's "HTTP/2 and gRPC", with an http/1.1 pool. */
static void test_http2_example(void **state)
{
	char *text;
	struct weir_config *cfg;

	(void)state;
	text = xasprintf_t("listen = ( { address = \"0.0.0.0:8443\"; tls = { certificate = \"%s\"; key = \"%s\"; };\n"
	                   "             protocols = ( \"h2\", \"http/1.1\" ); },\n"
	                   "           { address = \"127.0.0.1:8081\"; protocols = ( \"h2c\" ); } );\n"
	                   MIN_POOLS
	                   "errors = { statuses = \"5xx\";\n"
	                   "           grpc = \"UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, "
	                   "DATA_LOSS\"; };\n"
	                   "limits = { h2_max_streams = 100; };\n", cert_path, key_path);
	cfg = load_ok(text);
	free(text);
	assert_int_equal(cfg->listeners[0].protocols, CFG_PROTO_H2 | CFG_PROTO_HTTP1);
	assert_true(cfg->listeners[0].h2_first);
	assert_int_equal(cfg->listeners[1].protocols, CFG_PROTO_H2C);
	assert_int_equal(cfg->errors.grpc, BIT(2) | BIT(4) | BIT(12) | BIT(13) | BIT(14) | BIT(15));
	assert_int_equal(cfg->limits.h2_max_streams, 100);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_guard_partial_keeps_defaults),
		cmocka_unit_test(test_assorted_valid_values),
		cmocka_unit_test(test_rollout_numbers),
		cmocka_unit_test(test_rollout_groups_inherit),
		cmocka_unit_test(test_rollout_errors),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_pool_check),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_duration_errors),
		cmocka_unit_test(test_address_errors),
		cmocka_unit_test(test_pool_errors),
		cmocka_unit_test(test_listener_tls_errors),
		cmocka_unit_test(test_multiple_errors),
		cmocka_unit_test(test_reaction_warning),
		cmocka_unit_test(test_guard_method),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_shipped_configs),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_address),
		cmocka_unit_test(test_percent_to_weight),
		cmocka_unit_test(test_diag),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_listen_protocols),
		cmocka_unit_test(test_pool_protocol),
		cmocka_unit_test(test_errors_grpc),
		cmocka_unit_test(test_h2_max_streams),
		cmocka_unit_test(test_http2_example),
	};

	return cmocka_run_group_tests(tests, setup_files, teardown_files);
}
