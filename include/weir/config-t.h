/* Types of the parsed configuration, shared by every module that reads it.
 * Owns: nothing at run time: the plain-data types of a loaded configuration.
 * Functions are in config.h. Everything here is plain data: a loaded
 * configuration is immutable and may be read from any thread. */
#ifndef WEIR_CONFIG_T_H
#define WEIR_CONFIG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "weir/grpc.h"

/* The two pools. Indexes into every per-pool array in the tree. */
enum pool_id {
	POOL_BASELINE = 0,
	POOL_CANARY = 1,
	POOL_COUNT = 2
};

/* Weights are stored in hundredths of a percent: 0..10000 (0.01 % resolution). */
#define WEIGHT_SCALE 10000u

/* A resolved socket address as written in the file ("host:port", "[v6]:port"). */
struct cfg_addr {
	char *text;                   /* as written, e.g. "127.0.0.1:9001" */
	struct sockaddr_storage ss;
	socklen_t len;
	int line;                     /* line in the config file, for diagnostics */
};

struct cfg_tls_listen {
	char *certificate;            /* PEM path; may hold a chain */
	char *key;                    /* PEM path */
	int min_version;              /* OpenSSL constant, TLS1_2_VERSION by default */
};

/* Protocols a listener speaks (listen[].protocols), a bit each. */
#define CFG_PROTO_HTTP1 0x1u          /* "http/1.1" */
#define CFG_PROTO_H2 0x2u             /* "h2": chosen by ALPN, TLS listeners only */
#define CFG_PROTO_H2C 0x4u            /* "h2c": HTTP/2 with prior knowledge, plain listeners */

struct cfg_listener {
	struct cfg_addr addr;
	bool tls;                     /* tls group present */
	struct cfg_tls_listen tls_conf;
	unsigned protocols;           /* CFG_PROTO_* bits */
	bool h2_first;                /* TLS: ALPN prefers h2 over http/1.1 (the
	                                 order of `protocols`) */
};

struct cfg_tls_upstream {
	bool enabled;                 /* tls group present */
	char *ca;                     /* NULL: the system store */
	char *server_name;            /* NULL: no SNI / host check from the address */
	bool verify;                  /* default true */
};

/* Active health checks of a pool's servers (the pool's `check` group). */
struct cfg_check {
	bool enabled;                 /* check group present */
	char *path;                   /* request target, starts with '/' */
	uint64_t interval_ms;         /* from the start of one check to the next */
	uint64_t timeout_ms;          /* connect + TLS + response head */
	uint32_t rise;                /* passes in a row that make a server up */
	uint32_t fall;                /* failures in a row that make it down */
	uint64_t expect_bits[10];     /* passing statuses, bitmap by status (check.h:
	                                 CHECK_STATUS_WORDS, asserted in check.c) */
};

/* What a pool's servers are spoken to in (pools.X.protocol). */
enum pool_protocol {
	POOL_PROTO_HTTP1,             /* "http/1.1" (default): h2 streams become HTTP/1.1 requests */
	POOL_PROTO_H2                 /* "h2": h2 over TLS (ALPN) with tls, h2c without */
};

struct cfg_pool {
	enum pool_protocol protocol;
	struct cfg_addr *servers;
	size_t nservers;
	struct cfg_tls_upstream tls;
	struct cfg_check check;
};

enum balance {
	BALANCE_ROUND_ROBIN,
	BALANCE_LEAST_CONN
};

struct cfg_split {
	uint32_t canary_weight;       /* hundredths of a percent, 0..WEIGHT_SCALE */
	char *sticky_header;          /* NULL when not set */
	char *sticky_cookie;
	char *override_header;
	bool expose_pool;
};

/* Status codes 100..599 that count as errors, as a bitmap indexed by status. */
struct cfg_errors {
	uint64_t status_bits[10];     /* 640 bits */
	bool abandoned;               /* a request whose client left first is an error,
	                                 its wait a latency (errors.abandoned) */
	grpc_status_set grpc;         /* gRPC statuses that are errors (errors.grpc) */
};

static inline bool cfg_status_is_error(const struct cfg_errors *e, unsigned status)
{
	return status < 640 && (e->status_bits[status / 64] >> (status % 64)) & 1u;
}

/* Durations are milliseconds. */
struct cfg_timeouts {
	uint64_t connect_ms;
	uint64_t request_header_ms;
	uint64_t backend_ms;
	uint64_t idle_ms;
	uint64_t drain_ms;
};

struct cfg_limits {
	uint32_t max_connections;
	uint32_t max_header_bytes;
	uint32_t h2_max_streams;      /* concurrent streams of one HTTP/2 connection */
};

/* Thresholds the guard judges the canary against. NaN means "not set". */
struct cfg_thresholds {
	double max_error_rate;            /* fraction 0..1 */
	double max_p50_ms;
	double max_p99_ms;
	double max_p999_ms;
	double max_error_rate_increase;   /* canary - baseline, fraction */
	double max_p99_ratio;             /* canary p99 / baseline p99 */
};

enum guard_action {
	GUARD_ACTION_ROLLBACK,
	GUARD_ACTION_ALERT
};

/* How the guard judges (INTERFACE.md "Judgement: guard.method"). */
/* WINDOW is 0 so that a zeroed cfg_guard means the rule of version 0.1; the
 * configuration's default is SEQUENTIAL. */
enum guard_method {
	GUARD_METHOD_WINDOW,              /* Wilson bounds over the window, held for `for` */
	GUARD_METHOD_SEQUENTIAL           /* anytime-valid tests at every fold (seqtest.c) */
};

struct cfg_guard {
	bool enabled;
	enum guard_method method;
	double alpha;                     /* sequential: false-rollback probability per run */
	uint64_t interval_ms;
	uint64_t window_ms;
	uint64_t min_requests;
	uint64_t for_ms;
	struct cfg_thresholds thresholds;
	enum guard_action action;
};

struct cfg_rollout_step {
	uint32_t weight;                  /* hundredths of a percent */
	uint64_t hold_ms;                 /* the rollout's hold unless overridden */
	struct cfg_thresholds thresholds; /* the guard's, with this step's overrides */
};

struct cfg_rollout {
	bool present;                     /* rollout group present */
	struct cfg_rollout_step *steps;
	size_t nsteps;
	uint64_t hold_ms;
	bool auto_advance;
};

/* The fleet (INTERFACE.md "Fleet: several weir instances, one canary"):
 * present only with a cluster group; otherwise weir runs alone. */
#define CLUSTER_MAX_ENDPOINTS 16
#define CLUSTER_NAME_MAX 64           /* name and node: bytes, without the NUL */

struct cfg_cluster {
	bool present;                     /* cluster group present */
	struct cfg_addr *etcd;            /* endpoints; text is "host:port" (no scheme) */
	size_t netcd;
	char *name;                       /* the fleet: keys live under /weir/<name>/ */
	char *node;                       /* this member, unique in the fleet */
	uint64_t ttl_ms;                  /* lease; whole seconds, CLUSTER_TTL_MIN..MAX */
	int line;                         /* of the cluster group */
};

struct weir_config {
	char *path;                       /* the file it was loaded from */

	struct cfg_listener *listeners;
	size_t nlisteners;
	unsigned workers;                 /* resolved: "auto" becomes the core count */
	bool workers_auto;

	bool admin_http_set;              /* admin listener on (false only for admin.http = "") */
	struct cfg_addr admin_http;
	char *admin_socket;               /* path; "" disables the control socket */

	struct cfg_pool pools[POOL_COUNT];
	enum balance balance;

	struct cfg_split split;
	struct cfg_errors errors;
	struct cfg_timeouts timeouts;
	struct cfg_limits limits;
	struct cfg_guard guard;
	struct cfg_rollout rollout;
	struct cfg_cluster cluster;

	char *state_file;                 /* "" disables persistence */
	char *event_log;                  /* "" disables the event log */
	char *access_log;                 /* "" (default): no access log */
};

#endif
