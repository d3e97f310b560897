/* tls: OpenSSL contexts for listeners and pools, the TLS bufferevents of the
 * data path, and the file checks of the configuration.
 *
 * Decisions:
 *   - Listeners: TLS 1.2 or 1.3 as min_version says, no renegotiation, no
 *     compression, TLS 1.2 ciphers restricted to ECDHE with AES-GCM or
 *     ChaCha20-Poly1305 (forward secrecy, AEAD only); TLS 1.3 keeps OpenSSL's
 *     suites. ALPN follows the listener's protocols: the first of its "h2"
 *     and "http/1.1", in their configured order (the server's preference),
 *     that the client offers; nothing when the client offers neither (it
 *     then speaks HTTP/1.1 by default or gives up). A listener's protocols
 *     are those of the start: like its address, they change at a restart.
 *   - Resumption is by session tickets only: the context is shared by every
 *     worker, so any worker can resume any ticket, without the lock of a
 *     server-side session cache. A reload makes new contexts and so new
 *     ticket keys: clients then do one full handshake, which is what one wants
 *     after a key change.
 *   - Pools: TLS 1.2 minimum, the peer verified against ca (or the system
 *     store) unless verify = false. server_name gives SNI and the name the
 *     certificate must carry; without it, no SNI is sent and the certificate
 *     must carry the server's IP address. ALPN offers "http/1.1" only, or
 *     "h2" only for a pool with protocol "h2". The last session of each
 *     server is kept per worker and offered by the next connection to that
 *     server.
 *   - A TLS failure with a server (handshake, verification) is a connect
 *     failure: the server is marked down with back-off and the request is
 *     that pool's 502. It is logged when it marks an up server down, so once
 *     per server and back-off period in each worker, not once per request.
 *   - Encrypted private keys are refused (weir never prompts for a password).
 *   - A peer closing without close_notify reads as an end of file, as many
 *     HTTP peers close that way; framing tells a cut body from a complete
 *     one. The exception is a backend's read-until-close body: there only
 *     close_notify proves the end, so on an established connection to a
 *     server a close without it is an error (tls_upstream_established), and
 *     such a response counts as truncated. weir itself sends close_notify
 *     before it closes an established connection, so its clients can tell. */
#include "weir/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "weir/config.h"
#include "weir/log.h"
#include "weir/net.h"

/* TLS 1.2 suites: ECDHE key exchange, AEAD ciphers, never anonymous. */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"

static const unsigned char alpn_http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
static const unsigned char alpn_h2[] = { 2, 'h', '2' };

/* A listener's ALPN preference: protocol names in wire format (a length
 * byte, then the name), best first, ending with a 0 length. The select
 * callback's arg points to one of these: static storage, because an SSL_CTX
 * outlives its tls_set (a connection accepted before a reload may send its
 * ClientHello after the set was freed). Not const only because OpenSSL's
 * arg is a void *; never written. */
static unsigned char alpn_pref_h2_http11[] = { 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1', 0 };
static unsigned char alpn_pref_http11_h2[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1', 2, 'h', '2', 0 };
static unsigned char alpn_pref_h2[] = { 2, 'h', '2', 0 };
static unsigned char alpn_pref_http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1', 0 };

struct tls_listen_slot {
	struct sockaddr_storage ss;  /* the listening socket's address */
	socklen_t len;
	char *text;                  /* as written, for messages */
	SSL_CTX *ctx;                /* NULL: plain */
	unsigned protocols;          /* listen[].protocols (CFG_PROTO_*) at start */
	bool h2_first;               /* and their ALPN order */
};

struct tls_set {
	struct tls_listen_slot *listen;  /* one per listening socket, in order */
	size_t nlisten;
	SSL_CTX *pool[POOL_COUNT];       /* NULL: plain TCP */
};

/* ---- helpers ------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(err, errlen, "?");
	else if ((size_t)n >= errlen && errlen > 4)
		memcpy(err + errlen - 4, "...", 4); /* say that it was cut */
}

/* The reason of the OpenSSL error of this thread, for a message. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_error(); /* the first: the root cause */
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

/* Password callback: weir never prompts, so an encrypted key fails to load. */
static int no_password(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* Settings both sides share. Returns 0 or -1. */
static int common_setup(SSL_CTX *ctx, int min_version)
{
	if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                         SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		return -1;
	return 0;
}

/* ---- listeners ----------------------------------------------------------- */

/* The preference list for a TLS listener's PROTOCOLS and order. */
static unsigned char *alpn_pref(unsigned protocols, bool h2_first)
{
	bool h2 = protocols & CFG_PROTO_H2, http11 = protocols & CFG_PROTO_HTTP1;

	if (h2 && http11)
		return h2_first ? alpn_pref_h2_http11 : alpn_pref_http11_h2;
	return h2 ? alpn_pref_h2 : alpn_pref_http11;
}

/* NAME (N bytes) in the client's list IN (INLEN bytes, wire format), or NULL. */
static const unsigned char *alpn_find(const unsigned char *in, unsigned int inlen, const unsigned char *name,
                                      unsigned int n)
{
	for (unsigned int i = 0; i < inlen && in[i] <= inlen - i - 1; i += 1u + in[i])
		if (in[i] == n && memcmp(in + i + 1, name, n) == 0)
			return in + i + 1;
	return NULL;
}

/* ALPN: the first of the listener's preference list ARG (alpn_pref) that
 * the client offers; when it offers none of them, no ALPN at all. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	for (const unsigned char *pref = arg; pref[0] != 0; pref += 1 + pref[0]) {
		const unsigned char *hit = alpn_find(in, inlen, pref + 1, pref[0]);
		if (hit) {
			*out = hit;
			*outlen = pref[0];
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static EVP_PKEY *load_key(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	EVP_PKEY *key = NULL;

	if (b) {
		key = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
		BIO_free(b);
	}
	return key;
}

/* A listener's context for T, answering ALPN from ALPN (an alpn_pref list). */
static SSL_CTX *listen_ctx_new(const struct cfg_tls_listen *t, unsigned char *alpn, enum tls_fault *fault,
                               char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "weir";
	SSL_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert;

	*fault = TLS_FAULT_NONE;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || common_setup(ctx, t->min_version) < 0) {
		errf(err, errlen, "cannot set up a TLS context: %s", ossl_reason());
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, t->certificate) != 1) {
		*fault = TLS_FAULT_CERTIFICATE;
		errf(err, errlen, "cannot load a PEM certificate chain from %s (%s)", t->certificate,
		     ossl_reason());
		goto fail;
	}
	key = load_key(t->key);
	if (!key) {
		*fault = TLS_FAULT_KEY;
		errf(err, errlen, "cannot load an unencrypted PEM private key from %s (%s)", t->key,
		     ossl_reason());
		goto fail;
	}
	cert = SSL_CTX_get0_certificate(ctx);
	if (!cert || X509_check_private_key(cert, key) != 1) {
		*fault = TLS_FAULT_KEY;
		errf(err, errlen, "private key %s does not match certificate %s", t->key, t->certificate);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		*fault = TLS_FAULT_KEY;
		errf(err, errlen, "cannot use private key %s (%s)", t->key, ossl_reason());
		goto fail;
	}
	EVP_PKEY_free(key);
	key = NULL;
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, alpn);
	/* Idle keep-alive connections then hold no record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	ERR_clear_error();
	return ctx;
fail:
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

int tls_check_listen(const struct cfg_tls_listen *t, enum tls_fault *fault, char *err, size_t errlen)
{
	SSL_CTX *ctx = listen_ctx_new(t, alpn_pref_http11, fault, err, errlen);

	if (!ctx)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

/* ---- pools ----------------------------------------------------------------- */

/* A new session from a pool's server: its connection's sink decides (the
 * upstream module keeps the last one per server and worker). Returns 1 when
 * the reference was taken. */
static int keep_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_session_sink *sink = SSL_get_app_data(ssl);

	if (!sink || !SSL_SESSION_is_resumable(sess))
		return 0;
	return sink->keep(sink, sess) ? 1 : 0;
}

static SSL_CTX *upstream_ctx_new(const struct cfg_tls_upstream *t, enum tls_fault *fault,
                                 char *err, size_t errlen)
{
	SSL_CTX *ctx;

	*fault = TLS_FAULT_NONE;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || common_setup(ctx, TLS1_2_VERSION) < 0 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof(alpn_http11)) != 0) {
		errf(err, errlen, "cannot set up a TLS context: %s", ossl_reason());
		goto fail;
	}
	if (t->ca) {
		if (SSL_CTX_load_verify_file(ctx, t->ca) != 1) {
			*fault = TLS_FAULT_CA;
			errf(err, errlen, "cannot load PEM CA certificates from %s (%s)", t->ca, ossl_reason());
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		errf(err, errlen, "cannot load the system's CA certificates (%s)", ossl_reason());
		goto fail;
	}
	SSL_CTX_set_verify(ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, keep_session);
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

int tls_check_upstream(const struct cfg_tls_upstream *t, enum tls_fault *fault, char *err,
                       size_t errlen)
{
	SSL_CTX *ctx = upstream_ctx_new(t, fault, err, errlen);

	if (!ctx)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

/* ---- the set of one configuration -------------------------------------------- */

static const struct cfg_listener *find_tls_listener(const struct weir_config *cfg,
                                                    const struct tls_listen_slot *slot)
{
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct cfg_addr *a = &cfg->listeners[i].addr;
		if (cfg->listeners[i].tls && a->len == slot->len && memcmp(&a->ss, &slot->ss, a->len) == 0)
			return &cfg->listeners[i];
	}
	return NULL;
}

static struct bufferevent *filter_new(struct event_base *base, evutil_socket_t fd, SSL *ssl,
                                      enum bufferevent_ssl_state state);

/* libevent makes the BIO method of its filters at the first filter, in a
 * static without a lock: two workers making their first filter at once
 * would race. So the main thread makes (and frees) one first, once SET has
 * a context to make it with; workers make filters only with a set made
 * here. */
static void prime_filter_bio(const struct tls_set *set)
{
	static bool primed;
	SSL_CTX *ctx = NULL;
	struct event_base *base;
	struct bufferevent *bev;
	SSL *ssl;

	for (size_t i = 0; i < set->nlisten && !ctx; i++)
		ctx = set->listen[i].ctx;
	for (int p = 0; p < POOL_COUNT && !ctx; p++)
		ctx = set->pool[p];
	if (primed || !ctx || !(base = event_base_new()))
		return;
	if ((ssl = SSL_new(ctx)) && (bev = filter_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING))) {
		bufferevent_free(bev);
		primed = true;
	}
	(void)event_base_loop(base, EVLOOP_NONBLOCK); /* libevent's finalizers */
	event_base_free(base);
	ERR_clear_error();
}

struct tls_set *tls_set_new(const struct weir_config *cfg, const struct tls_set *running,
                            char *err, size_t errlen)
{
	struct tls_set *set = calloc(1, sizeof(*set));
	size_t n = running ? running->nlisten : cfg->nlisteners;
	char msg[768];
	enum tls_fault fault;

	if (!set || !(set->listen = calloc(n ? n : 1, sizeof(*set->listen)))) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	set->nlisten = n;
	for (size_t i = 0; i < n; i++) {
		struct tls_listen_slot *slot = &set->listen[i];
		const struct cfg_listener *want;
		const char *text;

		if (running) {
			const struct tls_listen_slot *old = &running->listen[i];
			slot->ss = old->ss;
			slot->len = old->len;
			slot->protocols = old->protocols;
			slot->h2_first = old->h2_first;
			text = old->text;
			want = old->ctx ? find_tls_listener(cfg, slot) : NULL;
			if (old->ctx && !want) {
				/* The new file has no TLS on this socket; a restart will
				 * say so. Until then it keeps its certificate. */
				SSL_CTX_up_ref(old->ctx);
				slot->ctx = old->ctx;
			}
		} else {
			slot->ss = cfg->listeners[i].addr.ss;
			slot->len = cfg->listeners[i].addr.len;
			slot->protocols = cfg->listeners[i].protocols;
			slot->h2_first = cfg->listeners[i].h2_first;
			text = cfg->listeners[i].addr.text;
			want = cfg->listeners[i].tls ? &cfg->listeners[i] : NULL;
		}
		slot->text = strdup(text);
		if (!slot->text) {
			errf(err, errlen, "out of memory");
			goto fail;
		}
		if (want && !(slot->ctx = listen_ctx_new(&want->tls_conf, alpn_pref(slot->protocols, slot->h2_first),
		                                         &fault, msg, sizeof(msg)))) {
			errf(err, errlen, "listener %s: %s", text, msg);
			goto fail;
		}
	}
	for (int p = 0; p < POOL_COUNT; p++) {
		if (!cfg->pools[p].tls.enabled)
			continue;
		set->pool[p] = upstream_ctx_new(&cfg->pools[p].tls, &fault, msg, sizeof(msg));
		if (!set->pool[p]) {
			errf(err, errlen, "pools.%s.tls: %s", cfg_pool_name(p), msg);
			goto fail;
		}
	}
	prime_filter_bio(set);
	return set;
fail:
	tls_set_free(set);
	return NULL;
}

void tls_set_free(struct tls_set *set)
{
	if (!set)
		return;
	if (set->listen) {
		for (size_t i = 0; i < set->nlisten; i++) {
			SSL_CTX_free(set->listen[i].ctx);
			free(set->listen[i].text);
		}
		free(set->listen);
	}
	for (int p = 0; p < POOL_COUNT; p++)
		SSL_CTX_free(set->pool[p]);
	free(set);
}

SSL_CTX *tls_set_listen_ctx(const struct tls_set *set, size_t i)
{
	return set && i < set->nlisten ? set->listen[i].ctx : NULL;
}

unsigned tls_set_listen_protocols(const struct tls_set *set, size_t i)
{
	return set && i < set->nlisten ? set->listen[i].protocols : 0;
}

/* ---- connections ------------------------------------------------------------- */

/* The data path's TLS connections are libevent's OpenSSL filter over a
 * plain socket bufferevent (UNDER), not its socket flavour, so that the
 * socket is read and written by weir in large pieces, like a plain one:
 * connread reads it into UNDER's input (one recv per batch of records, not
 * two per record: header, then body), the filter decrypts from there and
 * encrypts into UNDER's output, and tls_write_now sends all the records
 * queued there with one sendmsg (the socket flavour makes one write per
 * record, five or six for a 64 KiB response). UNDER's reads stay disabled:
 * libevent's own would be 4 KiB at a time. Health checks keep the socket
 * flavour: they do not go through connread.
 *
 * UNDER_OUT_HIGH bounds the records waiting in UNDER's output: beyond it the
 * filter encrypts nothing more, plaintext waits in the filter's output, and
 * the owner's backpressure (its output's length) sees it. */
enum { UNDER_OUT_HIGH = 128 * 1024 };

/* Output up to this size leaves as one TLS record (see tls_write_now). */
#define COALESCE_MAX 16384

/* A filter bufferevent on BASE for SSL (owned by it from here, failure
 * included) over a new socket bufferevent on FD (-1: connect it later).
 * NULL on failure, FD then left open. */
static struct bufferevent *filter_new(struct event_base *base, evutil_socket_t fd, SSL *ssl,
                                      enum bufferevent_ssl_state state)
{
	struct bufferevent *under = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	struct bufferevent *bev;

	if (!under) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_setwatermark(under, EV_WRITE, 0, UNDER_OUT_HIGH);
	bufferevent_set_max_single_write(under, UNDER_OUT_HIGH);
	/* Deferred callbacks: the filter runs the owner's callbacks from
	 * libevent's loop, never from inside connread or tls_write_now. */
	bev = bufferevent_openssl_filter_new(base, under, ssl, state,
	                                     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		/* It failed before taking UNDER: its only failure after that is
		 * SSL_clear failing on a fresh SSL, which does not happen. */
		(void)bufferevent_setfd(under, -1);
		bufferevent_free(under);
		return NULL;
	}
	bufferevent_disable(under, EV_READ); /* connread reads the socket */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *tls_accept_bufferevent(struct event_base *base, evutil_socket_t fd,
                                           SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);

	return ssl ? filter_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING) : NULL;
}

evutil_socket_t tls_socket_fd(struct bufferevent *bev)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);

	return bufferevent_getfd(under ? under : bev);
}

int tls_socket_connect(struct bufferevent *bev, const struct sockaddr *sa, int len)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);

	if (!under)
		return bufferevent_socket_connect(bev, sa, len);
	if (bufferevent_socket_connect(under, sa, len) < 0)
		return -1;
	/* A filter made without a socket has not started its handshake: its
	 * handshake callback, run now, queues the ClientHello under it, sent
	 * once connected (a failure is reported through the filter) */
	bufferevent_trigger(under, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS);
	return 0;
}

/* The numeric host of A, for the certificate's IP address check. */
static int addr_host(const struct cfg_addr *a, char *out, size_t outlen)
{
	const void *src;

	if (a->ss.ss_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	else if (a->ss.ss_family == AF_INET)
		src = &((const struct sockaddr_in *)&a->ss)->sin_addr;
	else
		return -1;
	return inet_ntop(a->ss.ss_family, src, out, (socklen_t)outlen) ? 0 : -1;
}

/* An SSL for TO: SNI, the host (or IP) check, and ALPN. NULL on failure. */
static SSL *ssl_for_target(SSL_CTX *ctx, const struct tls_target *to)
{
	SSL *ssl = SSL_new(ctx);

	if (!ssl)
		return NULL;
	if (to->server_name) {
		if (SSL_set_tlsext_host_name(ssl, to->server_name) != 1 ||
		    (to->verify && SSL_set1_host(ssl, to->server_name) != 1))
			goto fail;
	} else if (to->verify) {
		char host[INET6_ADDRSTRLEN];
		if (!to->addr || addr_host(to->addr, host, sizeof(host)) < 0 ||
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			goto fail;
	}
	/* An "h2" pool's connections, requests' and checks' alike, offer h2
	 * alone (the context's default is http/1.1). */
	if (to->h2 && SSL_set_alpn_protos(ssl, alpn_h2, sizeof(alpn_h2)) != 0)
		goto fail;
	return ssl;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

/* A connecting client-side TLS bufferevent of the socket flavour on BASE
 * for SSL (owned by it from here, failure included): health checks. */
static struct bufferevent *connecting_bufferevent(struct event_base *base, SSL *ssl)
{
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	                                                         BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *tls_connect_bufferevent(struct event_base *base, SSL_CTX *ctx, const struct tls_target *to,
                                            struct ssl_session_st *resume, struct tls_session_sink *sink)
{
	SSL *ssl = ssl_for_target(ctx, to);

	if (!ssl)
		return NULL;
	SSL_set_app_data(ssl, sink);
	if (resume)
		(void)SSL_set_session(ssl, resume);
	return filter_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING);
}

SSL_CTX *tls_set_pool_ctx(const struct tls_set *set, enum pool_id p)
{
	return set ? set->pool[p] : NULL;
}

struct bufferevent *tls_check_bufferevent(struct event_base *base, SSL_CTX *ctx, const struct tls_target *to)
{
	SSL *ssl = ssl_for_target(ctx, to);

	/* No app data: keep_session caches nothing for a check connection. */
	return ssl ? connecting_bufferevent(base, ssl) : NULL;
}

bool tls_handshake_failed(struct bufferevent *bev, short events)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl && (events & BEV_EVENT_ERROR) && !SSL_is_init_finished(ssl);
}

bool tls_failure_text(struct bufferevent *bev, char *why, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e;
	long vr;

	if (!ssl)
		return false;
	vr = SSL_get_verify_result(ssl);
	e = bufferevent_get_openssl_error(bev);
	if (vr != X509_V_OK) {
		errf(why, len, "certificate verification failed: %s", X509_verify_cert_error_string(vr));
	} else if (e) {
		const char *r = ERR_reason_error_string(e);
		errf(why, len, "handshake failed: %s", r ? r : "unknown error");
	} else {
		return false; /* refused, reset, closed: not a TLS matter */
	}
	return true;
}

int tls_shutdown_write(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	struct bufferevent *under = bufferevent_get_underlying(bev);

	if (!ssl || !SSL_is_init_finished(ssl) || evbuffer_get_length(bufferevent_get_output(bev)) != 0 ||
	    (under && !net_send_output(under)))
		return -1;
	if (!(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
		int r = SSL_shutdown(ssl);
		ERR_clear_error();
		/* 0: sent, the peer's not yet received; 1: both; < 0: not written. */
		if (r < 0)
			return -1;
	}
	/* a filter's alert is in UNDER's output, not on the wire yet */
	return under && !net_send_output(under) ? -1 : 0;
}

void tls_upstream_established(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl)
		SSL_clear_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

bool tls_alpn_h2(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	const unsigned char *proto = NULL;
	unsigned int len = 0;

	if (!ssl)
		return false;
	SSL_get0_alpn_selected(ssl, &proto, &len);
	return len == 2 && memcmp(proto, "h2", 2) == 0;
}

bool tls_clean_eof(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return !ssl || (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

/* libevent's own write callback of a filter's socket bufferevent (the same
 * function for every filter), and the wrapper put in its place. libevent
 * calls it when the socket has taken all the records: the filter then
 * encrypts more, but tells its owner nothing when it has nothing more, so
 * the wrapper does (an owner waiting for its records to be on the wire
 * before it closes: tls_all_sent). */
static _Thread_local bufferevent_data_cb filter_under_writecb;

static void under_drained_cb(struct bufferevent *under, void *arg)
{
	struct bufferevent *bev = arg; /* the filter: libevent's callback argument */

	filter_under_writecb(under, arg);
	if (tls_all_sent(bev))
		bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS); /* deferred */
}

/* Put under_drained_cb in front of UNDER's write callback, once its
 * handshake is done (libevent sets its callbacks for the open state then). */
static void watch_under_drain(struct bufferevent *under)
{
	bufferevent_data_cb readcb, writecb;
	bufferevent_event_cb eventcb;
	void *arg;

	bufferevent_getcb(under, &readcb, &writecb, &eventcb, &arg);
	if (writecb == under_drained_cb || !writecb)
		return;
	if (!filter_under_writecb)
		filter_under_writecb = writecb;
	if (writecb != filter_under_writecb)
		return; /* not libevent's (cannot happen): leave it */
	bufferevent_setcb(under, readcb, under_drained_cb, eventcb, arg);
}

bool tls_all_sent(struct bufferevent *bev)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);
	SSL *ssl;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return false;
	if (!under || evbuffer_get_length(bufferevent_get_output(under)) == 0)
		return true;
	/* Records under the filter before its handshake is done are the
	 * handshake's: nothing of the owner's waits */
	ssl = bufferevent_openssl_get_ssl(bev);
	if (!ssl || !SSL_is_init_finished(ssl))
		return true;
	watch_under_drain(under); /* the owner hears when they are out */
	return false;
}

void tls_write_now(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	struct bufferevent *under = bufferevent_get_underlying(bev);

	/* (the socket flavour, health checks', writes by itself) */
	if (!ssl || !under || !SSL_is_init_finished(ssl))
		return;
	watch_under_drain(under);
	/* Encrypt what is queued (a small output made one chain first: libevent
	 * makes a record of each chain), up to UNDER_OUT_HIGH, and send it; then
	 * the rest while the socket takes it all. What it does not take goes
	 * out on EPOLLOUT. */
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t queued = evbuffer_get_length(out);
	bool enabled_here = false;

	if (queued > 0 && queued <= COALESCE_MAX)
		(void)evbuffer_pullup(out, -1);
	/* An owner that keeps EV_WRITE disabled between flushes (a client:
	 * proxy.c) has its output encrypted here, in one piece, and EV_WRITE
	 * back off once all of it is on the wire */
	if (queued > 0 && !(bufferevent_get_enabled(bev) & EV_WRITE)) {
		bufferevent_enable(bev, EV_WRITE);
		enabled_here = true;
	}
	while (evbuffer_get_length(out) != 0) {
		size_t before = evbuffer_get_length(out);

		bufferevent_trigger(under, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS);
		if (!net_send_output(under))
			return; /* UNDER's EV_WRITE writes the rest, and the filter follows */
		if (evbuffer_get_length(out) == before)
			break; /* the filter took nothing: its own write path goes on */
	}
	if (!net_send_output(under))
		return;
	/* All out: drop the EPOLLOUT the socket bufferevent asked for when the
	 * records were queued (in the same changelist: no system call; its
	 * event as event2/bufferevent_struct.h lays it out). Not with
	 * plaintext left: an EPOLLOUT on an empty UNDER runs its write
	 * callback, which has the filter encrypt the rest. */
	if (evbuffer_get_length(out) != 0)
		return;
	(void)event_del(&under->ev_write);
	if (enabled_here)
		bufferevent_disable(bev, EV_WRITE);
}

void tls_bufferevent_free(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	struct bufferevent *under = bufferevent_get_underlying(bev);

	if (ssl && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
		(void)tls_shutdown_write(bev);
	/* A filter's last records (a failed handshake's alert, say) are still
	 * under it: one try to send them. */
	if (under)
		(void)net_send_output(under);
	bufferevent_free(bev);
}
