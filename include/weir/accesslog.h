/* accesslog: the access log (the access_log setting), one line per request.
 *
 * Line format: nine fields separated by one space, "-" where a field has no
 * value, then "\n":
 *
 *   TIME CLIENT METHOD TARGET STATUS POOL SERVER BYTES LATENCY_US
 *   2026-11-23T12:00:00.123Z 127.0.0.1 GET /api/items?id=3 200 canary 127.0.0.1:9101 1532 2311
 *
 *   TIME        when the exchange ended, UTC, millisecond resolution
 *   CLIENT      the client's address (IPv4 or IPv6, no port)
 *   METHOD      the request method
 *   TARGET      the request target as the client sent it; bytes outside
 *               '!'..'~', and '"' and '\', are written as \xHH; cut after
 *               ACCESSLOG_TARGET_MAX bytes, ending in "..."
 *   STATUS      the status weir counted for the request: the backend's, or
 *               502/504 when weir answered for a failed backend (also when the
 *               backend broke off after its head was relayed), or weir's own
 *               4xx/5xx for a request it refused before routing it, or
 *               499 (ACCESSLOG_STATUS_ABANDONED, as nginx) when the client
 *               closed, reset or timed out before its response was complete;
 *               LATENCY_US is then what the request had waited
 *   POOL        baseline or canary; "-" for a request never routed
 *   SERVER      the backend server's address as written in the
 *               configuration; "-" when no server could be chosen
 *   BYTES       bytes of the response passed to the client: status line,
 *               headers and body
 *   LATENCY_US  microseconds from the complete request head to the complete
 *               response, the same measure as the pool's histogram; "-" for a
 *               request never routed
 *
 * Threads and I/O: each event-loop thread appends to its own struct
 * accesslog_buf (no lock, no system call). accesslog_flush hands the buffer's
 * lines to the log: a copy under a mutex, no I/O. A writer thread owned by
 * the log does the write(2)s, so a slow disk never stalls an event loop;
 * if the disk falls ACCESSLOG_PENDING_MAX bytes behind, further lines are
 * dropped and counted instead of queued without bound. Lines of one buffer
 * stay in order and whole; lines of different buffers interleave by flush.
 *
 * Pure of libevent: the caller flushes from its own timer (and at exit). */
#ifndef WEIR_ACCESSLOG_H
#define WEIR_ACCESSLOG_H

/* STATUS of a request whose client left first (nginx's convention). */
#define ACCESSLOG_STATUS_ABANDONED 499

#include <stddef.h>
#include <stdint.h>

#define ACCESSLOG_METHOD_MAX 64       /* bytes of the escaped method kept */
#define ACCESSLOG_TARGET_MAX 2048     /* bytes of the escaped target kept, "..." included */
#define ACCESSLOG_ADDR_MAX 64         /* bytes of a client, pool or server name kept */
/* The longest line accesslog_format writes, "\n" included. */
#define ACCESSLOG_LINE_MAX (24 + ACCESSLOG_ADDR_MAX + ACCESSLOG_METHOD_MAX + \
                            ACCESSLOG_TARGET_MAX + 3 + 2 * ACCESSLOG_ADDR_MAX + 20 + 20 + 9)
#define ACCESSLOG_BUF_SIZE (64 * 1024)               /* per-thread buffer */
#define ACCESSLOG_PENDING_MAX (16u * 1024 * 1024)    /* handed over, not yet written */

/* The method and target of a request, escaped, copied out of the parser's
 * buffer when the head is complete (that buffer is gone by the time the
 * response ends). Plain data: embed it in the connection. */
struct accesslog_req {
	uint16_t method_len;              /* 0: unknown, logged as "-" */
	uint16_t target_len;
	char method[ACCESSLOG_METHOD_MAX];
	char target[ACCESSLOG_TARGET_MAX];
};

/* Escape and copy METHOD (MLEN bytes) and TARGET (TLEN bytes) into R. */
void accesslog_req_set(struct accesslog_req *r, const char *method, size_t mlen,
                       const char *target, size_t tlen);

/* Forget the request: method and target become "-". */
static inline void accesslog_req_clear(struct accesslog_req *r)
{
	r->method_len = 0;
	r->target_len = 0;
}

/* One line's values; NULL strings, status 0 and a negative latency are "-". */
struct accesslog_entry {
	uint64_t time_us;                 /* wall clock (CLOCK_REALTIME), µs since the epoch */
	const char *client;
	const struct accesslog_req *req;
	int status;
	const char *pool;
	const char *server;
	uint64_t bytes;
	int64_t latency_us;
};

/* Write E's line, "\n" included, into OUT (CAP bytes, no NUL added). Returns
 * its length, or 0 when CAP is below ACCESSLOG_LINE_MAX. Pure. */
size_t accesslog_format(const struct accesslog_entry *e, char *out, size_t cap);

/* Wall-clock microseconds for accesslog_entry.time_us. */
uint64_t accesslog_now_us(void);

/* ---- the log: its file and its writer thread ---------------------------- */

struct accesslog;

/* Open (create, mode 0640, append) PATH and start the writer thread.
 * Returns the log, or NULL with the reason in ERR. Release with
 * accesslog_close. */
struct accesslog *accesslog_open(const char *path, char *err, size_t errlen);

/* Reopen the log's path (SIGUSR1, after logrotate renamed the file). Lines
 * handed over before this call go to the old file, later ones to the new.
 * The file is opened by the caller's thread, so a failure is known at once:
 * returns 0, or -1 with the reason in ERR and the old file kept. Any thread;
 * calls must not overlap with each other or with accesslog_close. */
int accesslog_reopen(struct accesslog *log, char *err, size_t errlen);

/* Wait until every line handed over so far is written (or dropped). */
void accesslog_sync(struct accesslog *log);

/* Write what was handed over, stop the writer, close the file, free LOG.
 * Every buffer must have been flushed and disposed of first. NULL is fine. */
void accesslog_close(struct accesslog *log);

struct accesslog_stats {
	uint64_t lines_written;
	uint64_t lines_dropped;           /* write errors, or the writer too far behind */
	int last_errno;                   /* of the last failed write or reopen; 0: none */
};

/* Counters so far. Any thread. */
void accesslog_get_stats(struct accesslog *log, struct accesslog_stats *st);

/* ---- per-thread buffers --------------------------------------------------- */

struct accesslog_buf {
	struct accesslog *log;            /* NULL: logging is off, appends do nothing */
	char *data;
	size_t len, cap;
	uint64_t lines;                   /* lines in data */
	int64_t cached_sec;               /* the second whose text is in cached_time */
	char cached_time[24];             /* "2026-11-23T12:00:00." */
};

/* Prepare B for one thread's lines into LOG (NULL: logging off). Returns 0,
 * or -1 when out of memory (B is then off). Release with accesslog_buf_dispose. */
int accesslog_buf_init(struct accesslog_buf *b, struct accesslog *log);

/* Flush what is left, then free B's memory. */
void accesslog_buf_dispose(struct accesslog_buf *b);

/* Add E's line to B; B is flushed first when the line does not fit. The
 * owning thread only. */
void accesslog_append(struct accesslog_buf *b, const struct accesslog_entry *e);

/* Hand B's lines to the writer (no I/O here). Call it from a timer, so a
 * quiet server's lines still reach the file, and before the thread ends. */
void accesslog_flush(struct accesslog_buf *b);

#endif
