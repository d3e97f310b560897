/* tls: OpenSSL 3 for the data path. TLS termination on listeners, verified
 * Owns: the OpenSSL contexts of listeners and pools and their sessions.
 * TLS to backend pools, and the checks "weir -t" makes on the files.
 *
 * The SSL_CTXs of one configuration live in a struct tls_set, built on the
 * main thread (at start and at every reload) and read by the workers. An
 * SSL_CTX is reference counted: every SSL made from it holds a reference, so
 * a connection established before a reload keeps its old context (and its
 * old certificate) alive until it closes, whatever happens to the set. */
#ifndef WEIR_TLS_H
#define WEIR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>
#include <openssl/types.h>

#include "weir/config-t.h"

/* Kept as declarations so that config.c can check files without seeing the
 * data path (proxy-t.h, libevent). */
struct bufferevent;
struct event_base;
struct sockaddr;
struct ssl_session_st;

/* Which file a failed check is about. */
enum tls_fault {
	TLS_FAULT_NONE,          /* not a file: OpenSSL itself failed */
	TLS_FAULT_CERTIFICATE,
	TLS_FAULT_KEY,
	TLS_FAULT_CA
};

/* Load T's certificate chain and key as a listener would, and let go of them.
 * Returns 0, or -1 with the faulty file in *FAULT and a message in ERR
 * (size ERRLEN), e.g. "private key k.pem does not match certificate c.pem". */
int tls_check_listen(const struct cfg_tls_listen *t, enum tls_fault *fault, char *err,
                     size_t errlen);

/* Same for a pool's TLS settings (the CA file). */
int tls_check_upstream(const struct cfg_tls_upstream *t, enum tls_fault *fault, char *err,
                       size_t errlen);

struct tls_set;

/* The contexts for CFG: one per listening socket (NULL for a plain one) and
 * one per pool with TLS. RUNNING is the set in use (NULL at start): the
 * listening sockets are those the process opened at start, so on a reload a
 * TLS listener takes the certificate of the new CFG's listener with the same
 * address, and keeps its current context when CFG has none. Main thread.
 * Returns the set, or NULL with a message in ERR. Release with tls_set_free. */
struct tls_set *tls_set_new(const struct weir_config *cfg, const struct tls_set *running,
                            char *err, size_t errlen);

/* Drop the set's references (connections keep theirs). NULL is fine. */
void tls_set_free(struct tls_set *set);

/* The context of SET's listening socket I (in the order of the
 * configuration's listeners, as the workers open them), NULL for a plain one
 * or a NULL SET. Worker thread. */
SSL_CTX *tls_set_listen_ctx(const struct tls_set *set, size_t i);

/* The protocols (CFG_PROTO_* bits, listen[].protocols) of SET's listening
 * socket I, plain or TLS, as the process opened it: a reload keeps them, as
 * it keeps the address (a change needs a restart). 0 for a NULL SET or an I
 * out of range. Any thread (the set is immutable). */
unsigned tls_set_listen_protocols(const struct tls_set *set, size_t i);

/* A server-side TLS bufferevent on the accepted socket FD (handshake first).
 * Returns NULL on failure (FD is then still the caller's to close).
 * It is libevent's OpenSSL filter over a socket bufferevent that weir reads
 * itself (read it through a connread, which reads for the handshake too)
 * and writes itself (tls_write_now); the socket is tls_socket_fd's. Free it
 * with tls_bufferevent_free. */
struct bufferevent *tls_accept_bufferevent(struct event_base *base, evutil_socket_t fd,
                                           SSL_CTX *ctx);

/* The socket under BEV: a TLS bufferevent's (filter or not) or a plain
 * one's; -1 when it has none yet. */
evutil_socket_t tls_socket_fd(struct bufferevent *bev);

/* bufferevent_socket_connect for BEV, plain or TLS (a filter connects the
 * socket bufferevent under it). */
int tls_socket_connect(struct bufferevent *bev, const struct sockaddr *sa, int len);

/* Where a client-side TLS connection hands the sessions its server issues,
 * so that the next connection can resume one: its owner embeds a sink and
 * finds itself from it. KEEP takes the reference to SESS (returns true) or
 * refuses it (false). Called on the connection's thread. */
struct tls_session_sink {
	bool (*keep)(struct tls_session_sink *sink, struct ssl_session_st *sess);
};

/* Whom a client-side TLS connection is to: SNI and the name its
 * certificate must carry (SERVER_NAME; NULL: no SNI, and the certificate
 * must name ADDR's IP address), whether that is checked at all (VERIFY),
 * and the ALPN offer: "h2" alone with H2, else the context's "http/1.1". */
struct tls_target {
	const char *server_name;
	const struct cfg_addr *addr;
	bool verify;
	bool h2;
};

/* A client-side TLS bufferevent on BASE to TO, not yet connected:
 * tls_socket_connect it (tls_alpn_h2 tells what the server chose). A filter,
 * as tls_accept_bufferevent's.
 * RESUME (NULL: none) is offered for resumption; new sessions go to SINK
 * (NULL: dropped), which must outlive the bufferevent. Returns NULL on
 * failure. */
struct bufferevent *tls_connect_bufferevent(struct event_base *base, SSL_CTX *ctx, const struct tls_target *to,
                                            struct ssl_session_st *resume, struct tls_session_sink *sink);

/* The context of pool P in SET, NULL for plain TCP (or SET NULL). */
SSL_CTX *tls_set_pool_ctx(const struct tls_set *set, enum pool_id p);

/* A client-side TLS bufferevent on BASE to TO for a health check (no
 * session offered or kept), not yet connected. Returns NULL on failure.
 * libevent's socket flavour: it reads and writes by itself. */
struct bufferevent *tls_check_bufferevent(struct event_base *base, SSL_CTX *ctx, const struct tls_target *to);

/* When BEV (a client-side TLS bufferevent) failed for a TLS reason
 * (verification, handshake), write it into WHY and return true; false for
 * plain bufferevents and failures that are not TLS (refused, reset). */
bool tls_failure_text(struct bufferevent *bev, char *why, size_t len);

/* True when a client connection's BEV reported EVENTS (error) before its TLS
 * handshake completed: a handshake failure. False for plain bufferevents. */
bool tls_handshake_failed(struct bufferevent *bev, short events);


/* Encrypt what BEV's output holds and send the records now, with one
 * sendmsg, not at the next EPOLLOUT: a no-op unless BEV is an established
 * TLS filter (tls_accept_bufferevent, tls_connect_bufferevent). What the
 * socket does not take is written by libevent when it is writable. BEV's
 * EV_WRITE is left as the owner had it once everything is out. */
void tls_write_now(struct bufferevent *bev);

/* True when nothing BEV was given to send waits in weir any more: its output
 * is empty and, for a TLS filter past its handshake, so is the socket
 * bufferevent's under it (records queued, not yet taken by the socket).
 * False for records under a filter: BEV's write callback then runs once
 * they are out. */
bool tls_all_sent(struct bufferevent *bev);

/* Free BEV; on an established TLS connection first send close_notify, so that
 * the peer can tell a complete read-until-close body from a cut one. */
void tls_bufferevent_free(struct bufferevent *bev);

/* Send close_notify on BEV, a TLS bufferevent whose output is empty, before
 * the caller shuts its socket down for writing. Returns 0, or -1 when the
 * connection is not established or the alert could not be written whole
 * (then just close). */
int tls_shutdown_write(struct bufferevent *bev);

/* True when the handshake on BEV, a TLS bufferevent, selected "h2" by ALPN
 * (a listener with "h2" and a client that offered it; a connection to an
 * "h2" pool's server); false for "http/1.1", no ALPN, a handshake not done
 * yet, or any other bufferevent. */
bool tls_alpn_h2(struct bufferevent *bev);

/* True when BEV's peer ended the connection properly: always for a plain
 * bufferevent; for TLS, when its close_notify was received. */
bool tls_clean_eof(struct bufferevent *bev);

/* BEV, a connection to a server, completed its handshake: from now on a
 * close without close_notify is reported as an error, not an end of file.
 * Where only the close delimits a body, it cannot be told from a truncation
 * (during the handshake it stays a plain close: not a TLS failure). */
void tls_upstream_established(struct bufferevent *bev);


#endif
