/* etcd: a small client of etcd's v3 JSON gateway (POST /v3/kv/range,
 * /v3/kv/txn, /v3/kv/put, /v3/lease/grant|keepalive|revoke, /v3/watch).
 * Owns: the request bodies, the strict reading of etcd's replies, and the
 * HTTP/1.1 connections to the endpoints (failover, deadlines, reply caps).
 *
 * Two halves, as in control.c. The codec (etcd_b64_*, etcd_body_*,
 * etcd_parse_*) is pure: no socket, no libevent; it builds JSON bodies
 * with jansson and reads replies into plain structs, refusing anything of
 * the wrong shape (a reply that is not what etcd sends is an error, never
 * half-applied). The client (etcd_new ... etcd_free) runs on one event
 * base: a connection per call at a time (one kept open between calls per
 * endpoint), every attempt bounded by a deadline, every reply by
 * ETCD_REPLY_MAX bytes; a watch is a call whose chunked body is a stream
 * of JSON objects, one per line, handed over as they complete.
 *
 * Keys and values are bytes (etcd's are base64 in JSON); this module gives
 * them NUL-terminated for convenience, with their lengths. */
#ifndef WEIR_ETCD_H
#define WEIR_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"

#define ETCD_REPLY_MAX (4u << 20)      /* bytes of one reply body, or one watch message */
#define ETCD_HEAD_MAX 16384            /* bytes of a reply's HTTP head */
#define ETCD_VALUE_MAX (1u << 20)      /* bytes of one decoded key or value */
#define ETCD_KVS_MAX 4096              /* key-values in one reply */
#define ETCD_IDLE_REUSE_MS 2000        /* a kept connection is reused only this soon */

/* ---- the codec (pure) -------------------------------------------------------- */

/* Base64 (RFC 4648, with padding) of IN[0..N). Returns a NUL-terminated
 * string to release with free, or NULL when out of memory. */
char *etcd_b64_encode(const void *in, size_t n);
/* Decode IN[0..N) strictly: the standard alphabet, whole groups, padding
 * only at the end, no line breaks. Returns 0 with *OUT (NUL-terminated,
 * release with free) and *OUTLEN, or -1 (not base64, or longer than
 * ETCD_VALUE_MAX once decoded, or out of memory). */
int etcd_b64_decode(const char *in, size_t n, char **out, size_t *outlen);

/* What a call is; it names the gateway path and the reply's shape. */
enum etcd_kind {
	ETCD_RANGE,
	ETCD_PUT,
	ETCD_TXN,
	ETCD_LEASE_GRANT,
	ETCD_LEASE_KEEPALIVE,
	ETCD_LEASE_REVOKE,
	ETCD_WATCH
};

/* "/v3/kv/range" ... */
const char *etcd_kind_path(enum etcd_kind k);

/* Request bodies: JSON text to release with free, or NULL when out of
 * memory. KEY and values are bytes. */
/* The key, or every key starting with it when PREFIX. */
char *etcd_body_range(const char *key, size_t keylen, bool prefix);
/* Put VALUE under KEY, attached to LEASE (0: none). */
char *etcd_body_put(const char *key, size_t keylen, const char *value, size_t vlen, int64_t lease);
/* What a conditional put compares. */
enum etcd_cond {
	ETCD_IF_MOD_REVISION,          /* KEY's mod_revision == REV (0: KEY absent) */
	ETCD_IF_ABSENT                 /* KEY's create_revision == 0 */
};
/* A transaction: if COND holds, put VALUE under KEY (with LEASE, 0: none);
 * otherwise read KEY, so the reply says what won. */
char *etcd_body_txn_put(const char *key, size_t keylen, enum etcd_cond cond, int64_t rev, const char *value,
                        size_t vlen, int64_t lease);
/* The same conditioned on KEY's mod_revision == REV and, too, on
 * FENCE_KEY being attached to FENCE_LEASE (a leader's decision: it commits
 * only while the leader key is still this member's). Either compare
 * failing reads KEY. */
char *etcd_body_txn_put_fenced(const char *key, size_t keylen, int64_t rev, const char *value, size_t vlen,
                               const char *fence_key, size_t fence_keylen, int64_t fence_lease);
char *etcd_body_lease_grant(int64_t ttl_seconds);
/* Keepalive and revoke take the same body. */
char *etcd_body_lease_id(int64_t id);
/* Watch every key starting with PREFIX, from revision START (0: now on). */
char *etcd_body_watch(const char *prefix, size_t len, int64_t start);

/* One key-value of a reply (a range's kvs, a txn's read, a watch's events). */
struct etcd_kv {
	char *key;                     /* NUL-terminated; KEYLEN bytes */
	size_t keylen;
	char *value;                   /* NUL-terminated; VLEN bytes ("" for a delete) */
	size_t vlen;
	int64_t create_revision, mod_revision, version, lease;
	bool deleted;                  /* watch: a DELETE event */
	bool value_bad;                /* the value was more than ETCD_VALUE_MAX bytes or not base64:
	                                  VALUE is "", skip it (the rest of the reply is good) */
};

/* A reply, read by etcd_parse_reply. Fields not in the kind's reply are 0. */
struct etcd_reply {
	int64_t revision;              /* header.revision: the store's revision */
	bool succeeded;                /* txn: the comparison held */
	struct etcd_kv *kvs;           /* range; txn: the failure branch's read;
	                                  watch: the events, in order */
	size_t nkvs;
	int64_t lease_id;              /* lease grant, keepalive */
	int64_t ttl;                   /* lease grant, keepalive (0: the lease is gone) */
	bool created, canceled;        /* watch */
	int64_t compact_revision;      /* watch canceled because START was compacted */
	char cancel_reason[128];       /* watch */
};

/* Read BODY (LEN bytes) as a reply of KIND (a watch: one message of the
 * stream, its "result" unwrapped). Returns 0 with R filled in (release with
 * etcd_reply_dispose), or -1 with the reason in ERR and R empty: not JSON,
 * a field of the wrong type or range, bad base64, too much, or etcd's own
 * error object ({"error": ..., "code": N}), whose message ERR quotes. */
int etcd_parse_reply(enum etcd_kind kind, const char *body, size_t len, struct etcd_reply *r, char *err,
                     size_t errlen);
void etcd_reply_dispose(struct etcd_reply *r);

/* ---- the client (libevent, one event base) -------------------------------------- */

struct event_base;
struct etcd;
struct etcd_call;

/* A call ended: REPLY when etcd answered 200 with a well-formed reply (the
 * callee may keep nothing of it after returning), else NULL with ERR (the
 * endpoint and the reason). The call is gone when this runs. */
typedef void (*etcd_done_fn)(void *arg, const struct etcd_reply *reply, const char *err);
/* A watch message arrived (well-formed; a bad one ends the watch). Return
 * 0 to go on, -1 to end the watch quietly (no done callback). */
typedef int (*etcd_msg_fn)(void *arg, const struct etcd_reply *msg);

/* A client of the endpoints EPS[0..N) (copied). TIMEOUT_MS bounds each
 * attempt of a call: connect, send, and the whole reply (a watch: its
 * head). Returns NULL when out of memory. Release with etcd_free. */
struct etcd *etcd_new(struct event_base *base, const struct cfg_addr *eps, size_t n, uint64_t timeout_ms);
/* Ends every call without calling back. */
void etcd_free(struct etcd *e);

/* Start a call of KIND with BODY (taken, even on failure). A transport
 * failure, a timeout or a 5xx moves to the next endpoint, at most once
 * round them all; the endpoint that answered is tried first next time.
 * DONE runs exactly once, later (never from inside this function), unless
 * the call is cancelled; DONE NULL: nobody waits for the answer. Returns the call, or NULL when out of memory. */
struct etcd_call *etcd_call(struct etcd *e, enum etcd_kind kind, char *body, etcd_done_fn done, void *arg);
/* A watch with BODY (etcd_body_watch; taken): MSG for every message; DONE
 * once when the stream ends for any reason (not after a cancel, nor after
 * MSG returned -1). Not retried: the caller restarts it from the revision
 * it has. Returns NULL when out of memory. */
struct etcd_call *etcd_watch(struct etcd *e, char *body, etcd_msg_fn msg, etcd_done_fn done, void *arg);
/* On watch CALL, events of KEY (KEYLEN bytes) come with an empty value:
 * for a key whose owner never reads the value it gets back (a member's own
 * measurements, installed from memory), which is then neither parsed nor
 * decoded. Returns -1 when out of memory (nothing changes). */
int etcd_watch_blank(struct etcd_call *call, const char *key, size_t keylen);
/* The codec step behind it: in the watch message LINE (LEN bytes, etcd's
 * JSON), the value string of every key-value whose "key" is KEY_B64
 * (base64, KLEN bytes) is emptied in place. A key-value of another shape
 * (no "value" string after its key inside its object) is left as it is.
 * Returns the new length. */
size_t etcd_blank_values(char *line, size_t len, const char *key_b64, size_t klen);
/* End CALL now; its callbacks never run. */
void etcd_cancel(struct etcd_call *call);
/* End CALL now as a failure of its endpoint, seen by the caller (a watch
 * that went silent): its callbacks never run, and when that endpoint is
 * the one calls go to first, the next call goes to the next one. */
void etcd_abandon(struct etcd_call *call);

/* A call of KIND with BODY (taken) to the endpoint calls go to first,
 * blocking for at most TIMEOUT_MS, outside the event loop: for the last
 * word of a process whose loop has ended (revoking its lease). Returns 0
 * when etcd answered 200, else -1 with ERR. */
int etcd_call_blocking(struct etcd *e, enum etcd_kind kind, char *body, uint64_t timeout_ms, char *err,
                       size_t errlen);

/* "host:port" of the endpoint CALL is on. */
const char *etcd_call_endpoint(const struct etcd_call *call);
/* "host:port" of the endpoint calls go to first. */
const char *etcd_endpoint(const struct etcd *e);

#endif
