/* Unit tests for tls.c: the listeners' ALPN selection (listen[].protocols,
 * in the server's order), the protocols a reload keeps, and tls_alpn_h2.
 * Handshakes run in memory (a BIO pair) or, for the bufferevent functions,
 * over a socketpair in one event loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "weir/config.h"
#include "weir/connread.h"
#include "weir/tls.h"

#include "testcert.h"

static char tmpdir[64];
static char cert_path[128], key_path[128];

static int setup_files(void **state)
{
	const char *const certs[] = { cert_path, NULL };

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/weir-test-tls-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	EVP_PKEY *key = testcert_write_key(key_path);
	testcert_write_cert(key, certs);
	EVP_PKEY_free(key);
	return 0;
}

static int teardown_files(void **state)
{
	(void)state;
	unlink(cert_path);
	unlink(key_path);
	return rmdir(tmpdir);
}

/* ---- a configuration and its set ------------------------------------------------ */

/* The listeners of every test, in this order; FIRST is listener 1's
 * protocols (the one a reload changes). */
enum { L_DEFAULT, L_FIRST, L_HTTP11_H2, L_H2, L_PLAIN, L_COUNT };

static struct weir_config *load(const char *first)
{
	char *text = NULL;
	struct diag d;
	struct weir_config *cfg;
	int n;

	n = asprintf(&text,
	             "listen = ( { address = \"127.0.0.1:8443\"; tls = { certificate = \"%s\"; key = \"%s\"; }; },\n"
	             "  { address = \"127.0.0.1:8444\"; tls = { certificate = \"%s\"; key = \"%s\"; };\n"
	             "    protocols = %s; },\n"
	             "  { address = \"127.0.0.1:8445\"; tls = { certificate = \"%s\"; key = \"%s\"; };\n"
	             "    protocols = ( \"http/1.1\", \"h2\" ); },\n"
	             "  { address = \"127.0.0.1:8446\"; tls = { certificate = \"%s\"; key = \"%s\"; };\n"
	             "    protocols = ( \"h2\" ); },\n"
	             "  { address = \"127.0.0.1:8080\"; protocols = ( \"h2c\", \"http/1.1\" ); } );\n"
	             "pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); };\n"
	             "          canary = { servers = ( \"127.0.0.1:9101\" ); }; };\n",
	             cert_path, key_path, cert_path, key_path, first, cert_path, key_path, cert_path, key_path);
	assert_true(n > 0);
	diag_init(&d);
	cfg = config_load_string(text, "t.conf", &d);
	if (cfg == NULL) {
		diag_print(&d, stderr, "  ");
		fail_msg("the test configuration should load");
	}
	diag_dispose(&d);
	free(text);
	return cfg;
}

static struct tls_set *set_new(const struct weir_config *cfg, const struct tls_set *running)
{
	char err[256] = "";
	struct tls_set *set = tls_set_new(cfg, running, err, sizeof(err));

	if (set == NULL)
		fail_msg("tls_set_new: %s", err);
	return set;
}

/* ---- handshakes in memory ---------------------------------------------------------- */

/* CLIENT_ALPN as a wire-format list: "h2,http/1.1" -> 2 h2 8 http/1.1. */
static size_t alpn_wire(const char *client_alpn, unsigned char *out, size_t cap)
{
	size_t n = 0;

	while (*client_alpn) {
		size_t len = strcspn(client_alpn, ",");

		assert_true(len > 0 && len < 256 && n + 1 + len <= cap);
		out[n++] = (unsigned char)len;
		memcpy(out + n, client_alpn, len);
		n += len;
		client_alpn += len;
		if (*client_alpn == ',')
			client_alpn++;
	}
	return n;
}

/* An SSL of a client that offers CLIENT_ALPN ("" offers no ALPN). */
static SSL *client_ssl(SSL_CTX *cctx, const char *client_alpn)
{
	unsigned char wire[64];
	size_t n = alpn_wire(client_alpn, wire, sizeof(wire));
	SSL *c = SSL_new(cctx);

	assert_non_null(c);
	/* SSL_set_alpn_protos returns 0 on success. */
	if (n > 0)
		assert_int_equal(SSL_set_alpn_protos(c, wire, (unsigned)n), 0);
	return c;
}

/* The protocol the server on SCTX selects for a client offering
 * CLIENT_ALPN: "h2", "http/1.1", or "" for no ALPN. Static storage. */
static const char *selected(SSL_CTX *sctx, const char *client_alpn)
{
	static char out[32];
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c, *s = SSL_new(sctx);
	BIO *cb, *sb;
	const unsigned char *proto = NULL, *cproto = NULL;
	unsigned len = 0, clen = 0;
	int cdone = 0, sdone = 0;

	assert_non_null(cctx);
	assert_non_null(s);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	c = client_ssl(cctx, client_alpn);
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);

		cdone = rc == 1;
		sdone = rs == 1;
		if (rc != 1)
			assert_true(SSL_get_error(c, rc) == SSL_ERROR_WANT_READ || SSL_get_error(c, rc) == SSL_ERROR_WANT_WRITE);
		if (rs != 1)
			assert_true(SSL_get_error(s, rs) == SSL_ERROR_WANT_READ || SSL_get_error(s, rs) == SSL_ERROR_WANT_WRITE);
	}
	assert_true(cdone && sdone);
	SSL_get0_alpn_selected(s, &proto, &len);
	SSL_get0_alpn_selected(c, &cproto, &clen);
	/* Both sides agree on what was selected. */
	assert_int_equal(len, clen);
	assert_true(len < sizeof(out));
	if (len > 0) {
		assert_memory_equal(proto, cproto, len);
		memcpy(out, proto, len); /* PROTO is NULL without ALPN */
	}
	out[len] = '\0';
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return out;
}

static void test_alpn_selection(void **state)
{
	struct weir_config *cfg = load("( \"http/1.1\" )");
	struct tls_set *set = set_new(cfg, NULL);
	SSL_CTX *def = tls_set_listen_ctx(set, L_DEFAULT), *h11 = tls_set_listen_ctx(set, L_FIRST);
	SSL_CTX *h11h2 = tls_set_listen_ctx(set, L_HTTP11_H2), *h2 = tls_set_listen_ctx(set, L_H2);

	(void)state;
	assert_non_null(def);
	assert_null(tls_set_listen_ctx(set, L_PLAIN));
	/* Default ( "h2", "http/1.1" ): h2 first, whatever the client's order. */
	assert_string_equal(selected(def, "h2,http/1.1"), "h2");
	assert_string_equal(selected(def, "http/1.1,h2"), "h2");
	assert_string_equal(selected(def, "h2"), "h2");
	assert_string_equal(selected(def, "http/1.1"), "http/1.1");
	assert_string_equal(selected(def, "spdy/3.1,http/1.1"), "http/1.1");
	assert_string_equal(selected(def, "spdy/3.1,h3"), "");
	assert_string_equal(selected(def, ""), "");
	/* A prefix or an extension of a name is another name. */
	assert_string_equal(selected(def, "h2c,http/1.0,h,http/1.11"), "");
	/* ( "http/1.1" ) */
	assert_string_equal(selected(h11, "h2,http/1.1"), "http/1.1");
	assert_string_equal(selected(h11, "h2"), "");
	/* ( "http/1.1", "h2" ): the server's order. */
	assert_string_equal(selected(h11h2, "h2,http/1.1"), "http/1.1");
	assert_string_equal(selected(h11h2, "h2"), "h2");
	/* ( "h2" ) */
	assert_string_equal(selected(h2, "http/1.1,h2"), "h2");
	assert_string_equal(selected(h2, "http/1.1"), "");
	tls_set_free(set);
	config_free(cfg);
}

static void test_listen_protocols(void **state)
{
	struct weir_config *cfg = load("( \"http/1.1\" )");
	struct tls_set *set = set_new(cfg, NULL);

	(void)state;
	assert_int_equal(tls_set_listen_protocols(set, L_DEFAULT), CFG_PROTO_H2 | CFG_PROTO_HTTP1);
	assert_int_equal(tls_set_listen_protocols(set, L_FIRST), CFG_PROTO_HTTP1);
	assert_int_equal(tls_set_listen_protocols(set, L_H2), CFG_PROTO_H2);
	assert_int_equal(tls_set_listen_protocols(set, L_PLAIN), CFG_PROTO_H2C | CFG_PROTO_HTTP1);
	assert_int_equal(tls_set_listen_protocols(set, L_COUNT), 0);
	assert_int_equal(tls_set_listen_protocols(NULL, 0), 0);
	tls_set_free(set);
	config_free(cfg);
}

/* A reload builds new contexts with the protocols of the start: like the
 * address, they change at a restart (runtime.c says so in the log). */
static void test_reload_keeps_protocols(void **state)
{
	struct weir_config *cfg = load("( \"http/1.1\" )");
	struct weir_config *cfg2 = load("( \"h2\", \"http/1.1\" )");
	struct tls_set *set = set_new(cfg, NULL);
	struct tls_set *set2 = set_new(cfg2, set);

	(void)state;
	assert_ptr_not_equal(tls_set_listen_ctx(set2, L_FIRST), tls_set_listen_ctx(set, L_FIRST));
	assert_int_equal(tls_set_listen_protocols(set2, L_FIRST), CFG_PROTO_HTTP1);
	assert_string_equal(selected(tls_set_listen_ctx(set2, L_FIRST), "h2,http/1.1"), "http/1.1");
	assert_string_equal(selected(tls_set_listen_ctx(set2, L_DEFAULT), "h2,http/1.1"), "h2");
	tls_set_free(set);
	tls_set_free(set2);
	config_free(cfg);
	config_free(cfg2);
}

/* A connection keeps its context after the set that made it is freed (a
 * reload); its handshake may come later and must not read the set. */
static void test_context_outlives_set(void **state)
{
	struct weir_config *cfg = load("( \"http/1.1\", \"h2\" )");
	struct tls_set *set = set_new(cfg, NULL);
	SSL_CTX *def = tls_set_listen_ctx(set, L_DEFAULT), *first = tls_set_listen_ctx(set, L_FIRST);

	(void)state;
	assert_int_equal(SSL_CTX_up_ref(def), 1);
	assert_int_equal(SSL_CTX_up_ref(first), 1);
	tls_set_free(set);
	config_free(cfg);
	assert_string_equal(selected(def, "http/1.1,h2"), "h2");
	assert_string_equal(selected(first, "h2,http/1.1"), "http/1.1");
	SSL_CTX_free(def);
	SSL_CTX_free(first);
}

/* ---- tls_alpn_h2 on bufferevents -------------------------------------------------- */

struct pair {
	struct event_base *base;
	struct bufferevent *server, *client;
	int connected;           /* sides whose handshake completed */
	int failed;
};

static void pair_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct pair *p = arg;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED)
		p->connected++;
	else
		p->failed++;
	if (p->connected == 2 || p->failed)
		event_base_loopbreak(p->base);
}

/* A TLS connection over a socketpair to a server on SCTX, from a client
 * offering CLIENT_ALPN; returns tls_alpn_h2 of the server's side before
 * (in *BEFORE) and after the handshake. */
static bool alpn_h2_after_handshake(SSL_CTX *sctx, const char *client_alpn, bool *before)
{
	struct pair p = { 0 };
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct timeval limit = { 10, 0 };
	struct connread rd;
	int fds[2];
	bool h2;

	assert_non_null(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(evutil_make_socket_nonblocking(fds[0]), 0);
	assert_int_equal(evutil_make_socket_nonblocking(fds[1]), 0);
	p.base = event_base_new();
	assert_non_null(p.base);
	p.server = tls_accept_bufferevent(p.base, fds[0], sctx);
	assert_non_null(p.server);
	/* weir reads a server-side TLS socket itself (tls.h): the handshake
	 * needs that reader */
	connread_init(&rd, p.base, p.server, false, false, NULL, pair_event_cb, &p);
	p.client = bufferevent_openssl_socket_new(p.base, fds[1], client_ssl(cctx, client_alpn),
	                                          BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(p.client);
	*before = tls_alpn_h2(p.server);
	bufferevent_setcb(p.server, NULL, NULL, pair_event_cb, &p);
	bufferevent_setcb(p.client, NULL, NULL, pair_event_cb, &p);
	assert_int_equal(bufferevent_enable(p.server, EV_READ | EV_WRITE), 0);
	assert_int_equal(bufferevent_enable(p.client, EV_READ | EV_WRITE), 0);
	assert_int_equal(event_base_loopexit(p.base, &limit), 0);
	assert_int_equal(event_base_dispatch(p.base), 0);
	assert_int_equal(p.failed, 0);
	assert_int_equal(p.connected, 2);
	h2 = tls_alpn_h2(p.server);
	connread_stop(&rd);
	bufferevent_free(p.client);
	bufferevent_free(p.server);
	event_base_free(p.base);
	SSL_CTX_free(cctx);
	return h2;
}

static void test_alpn_h2(void **state)
{
	struct weir_config *cfg = load("( \"http/1.1\" )");
	struct tls_set *set = set_new(cfg, NULL);
	SSL_CTX *def = tls_set_listen_ctx(set, L_DEFAULT);
	struct event_base *base;
	struct bufferevent *plain;
	bool before;
	int fds[2];

	(void)state;
	assert_true(alpn_h2_after_handshake(def, "h2,http/1.1", &before));
	assert_false(before);
	assert_false(alpn_h2_after_handshake(def, "http/1.1", &before));
	assert_false(alpn_h2_after_handshake(def, "", &before));
	assert_false(alpn_h2_after_handshake(tls_set_listen_ctx(set, L_FIRST), "h2,http/1.1", &before));
	assert_true(alpn_h2_after_handshake(tls_set_listen_ctx(set, L_H2), "h2", &before));
	/* A plain bufferevent is never h2 by ALPN (h2c is told by its preface). */
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	plain = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(plain);
	assert_false(tls_alpn_h2(plain));
	bufferevent_free(plain);
	close(fds[1]);
	event_base_free(base);
	tls_set_free(set);
	config_free(cfg);
}

/* ---- weir's own reads and writes under the TLS filter ----------------------------- */

struct filter_side {
	struct event_base *base;
	struct connread rd;
	int connected, eof, errors, timeouts;
	size_t got;                  /* plaintext bytes the server read */
	size_t client_got;           /* ... and the client */
};

/* Empty BEV's input, counting the bytes in *N. */
static void drain_counted(struct bufferevent *bev, size_t *n)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	*n += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void fs_server_read(struct bufferevent *bev, void *arg)
{
	drain_counted(bev, &((struct filter_side *)arg)->got);
}

static void fs_server_event(struct bufferevent *bev, short events, void *arg)
{
	struct filter_side *f = arg;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED)
		f->connected++;
	else if (events & BEV_EVENT_TIMEOUT)
		f->timeouts++;
	else if (events & BEV_EVENT_EOF)
		f->eof++;
	else
		f->errors++;
}

static void fs_client_read(struct bufferevent *bev, void *arg)
{
	drain_counted(bev, &((struct filter_side *)arg)->client_got);
}

static void fs_client_event(struct bufferevent *bev, short events, void *arg)
{
	struct filter_side *f = arg;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED)
		f->connected++;
}

/* Run F's loop until DONE() or 5 s (or for MS exactly, DONE NULL). */
static void fs_run(struct filter_side *f, bool (*done)(const struct filter_side *), int ms)
{
	for (int i = 0; i < (done ? 500 : ms / 10); i++) {
		struct timeval tick = { 0, 10000 };

		if (done && done(f))
			return;
		assert_int_equal(event_base_loopexit(f->base, &tick), 0);
		assert_int_equal(event_base_dispatch(f->base), 0);
	}
	if (done)
		assert_true(done(f));
}

static bool fs_handshaken(const struct filter_side *f) { return f->connected == 2; }
static bool fs_got_ping(const struct filter_side *f) { return f->got == 4; }
static bool fs_client_got_all(const struct filter_side *f) { return f->client_got == 100000; }
static bool fs_eof(const struct filter_side *f) { return f->eof > 0; }

/* A socketpair in F's new loop: *SERVER made as the data path makes a client's
 * (tls_accept_bufferevent, read through F's connread, its owner's reads
 * enabled when OWNER_READS), *CLIENT an OpenSSL bufferevent starting its
 * handshake with CCTX. */
static void fs_open(struct filter_side *f, struct tls_set *set, SSL_CTX *cctx, bool owner_reads,
                    struct bufferevent **server, struct bufferevent **client)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(evutil_make_socket_nonblocking(fds[0]), 0);
	assert_int_equal(evutil_make_socket_nonblocking(fds[1]), 0);
	f->base = event_base_new();
	assert_non_null(f->base);
	*server = tls_accept_bufferevent(f->base, fds[0], tls_set_listen_ctx(set, L_DEFAULT));
	assert_non_null(*server);
	bufferevent_setcb(*server, fs_server_read, NULL, fs_server_event, f);
	connread_init(&f->rd, f->base, *server, false, true, fs_server_read, fs_server_event, f);
	if (owner_reads)
		connread_enable(&f->rd);
	*client = bufferevent_openssl_socket_new(f->base, fds[1], client_ssl(cctx, "http/1.1"),
	                                         BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(*client);
	bufferevent_setcb(*client, fs_client_read, NULL, fs_client_event, f);
	assert_int_equal(bufferevent_enable(*client, EV_READ | EV_WRITE), 0);
}

/* Free what fs_open made (the server side: the client is the test's) and
 * what the test made it with. */
static void fs_close(struct filter_side *f, struct bufferevent *server, SSL_CTX *cctx, struct tls_set *set,
                     struct weir_config *cfg)
{
	connread_stop(&f->rd);
	tls_bufferevent_free(server);
	event_base_free(f->base);
	SSL_CTX_free(cctx);
	tls_set_free(set);
	config_free(cfg);
}

/* A server-side TLS connection as the data path makes it (tls_accept_bufferevent,
 * read through connread): the handshake completes with the owner's reads
 * disabled; bytes wait until it enables them; a 100 kB answer queued at once
 * arrives whole through tls_write_now; with a 100 ms write timeout, a
 * connection that has sent everything sees no timeout; the client's
 * close_notify and close make one EOF, not two. */
static void test_filter_reads_and_writes(void **state)
{
	struct weir_config *cfg = load("( \"http/1.1\" )");
	struct tls_set *set = set_new(cfg, NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct filter_side f = { 0 };
	struct timeval wt = { 0, 100000 };
	struct bufferevent *server, *client;
	static char big[100000];

	(void)state;
	assert_non_null(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	fs_open(&f, set, cctx, false, &server, &client);
	connread_set_timeouts(&f.rd, NULL, &wt);
	assert_int_equal(bufferevent_enable(server, EV_WRITE), 0);
	fs_run(&f, fs_handshaken, 0);

	assert_int_equal(bufferevent_write(client, "ping", 4), 0);
	fs_run(&f, NULL, 100);
	assert_int_equal(f.got, 0); /* the owner reads nothing yet */
	connread_enable(&f.rd);
	fs_run(&f, fs_got_ping, 0);

	memset(big, 'x', sizeof(big));
	assert_int_equal(bufferevent_write(server, big, sizeof(big)), 0);
	tls_write_now(server);
	fs_run(&f, fs_client_got_all, 0);
	fs_run(&f, NULL, 300);
	assert_int_equal(f.timeouts, 0);
	assert_int_equal(f.errors, 0);

	/* close_notify (tls_bufferevent_free sends it), then the close */
	tls_bufferevent_free(client);
	fs_run(&f, fs_eof, 0);
	fs_run(&f, NULL, 100);
	assert_int_equal(f.eof, 1);
	assert_int_equal(f.errors, 0);
	assert_false(connread_enabled(&f.rd)); /* reading stopped, as before an EOF */

	fs_close(&f, server, cctx, set, cfg);
}

/* The space an input offers a one-byte reservation: the room left in the
 * chain it holds, or a new minimal chain's (under 1 KiB) when it holds none.
 * The reservation is not committed; draining it all frees it. */
static size_t input_room(struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;
	static const char byte;

	assert_int_equal(evbuffer_get_length(in), 0);
	assert_int_equal(evbuffer_reserve_space(in, 1, &v, 1), 1);
	assert_int_equal(evbuffer_add(in, &byte, 1), 0);
	assert_int_equal(evbuffer_drain(in, 1), 0);
	return v.iov_len;
}

/* A client that has done its handshake and not sent its request yet costs
 * no read buffer: the filter reserves 8 KiB of its input for each read, and
 * the handshake's last read leaves that reservation empty (connread frees
 * it). After a request, the owner's drain frees it as before. */
static void test_handshake_leaves_no_read_buffer(void **state)
{
	struct weir_config *cfg = load("( \"http/1.1\" )");
	struct tls_set *set = set_new(cfg, NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct filter_side f = { 0 };
	struct bufferevent *server, *client;

	(void)state;
	assert_non_null(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	/* the owner's reads enabled, as proxy.c does at accept: it wants its request */
	fs_open(&f, set, cctx, true, &server, &client);
	fs_run(&f, fs_handshaken, 0);
	fs_run(&f, NULL, 50); /* whatever the client sends after its Finished */
	assert_true(input_room(server) < 1024);

	assert_int_equal(bufferevent_write(client, "ping", 4), 0);
	fs_run(&f, fs_got_ping, 0);
	assert_true(input_room(server) < 1024);
	assert_int_equal(f.errors, 0);

	tls_bufferevent_free(client);
	fs_close(&f, server, cctx, set, cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alpn_selection),
		cmocka_unit_test(test_listen_protocols),
		cmocka_unit_test(test_reload_keeps_protocols),
		cmocka_unit_test(test_context_outlives_set),
		cmocka_unit_test(test_alpn_h2),
		cmocka_unit_test(test_filter_reads_and_writes),
		cmocka_unit_test(test_handshake_leaves_no_read_buffer),
	};

	return cmocka_run_group_tests(tests, setup_files, teardown_files);
}
