/* h2check: the HTTP/2 client session of an "h2" pool's health checks (see
 * include/weir/h2check.h for the contract and the bounds).
 *
 * nghttp2 does the framing, HPACK, flow control and the RFC 9113 checks of
 * a response (a :status of three digits, no field a message may not
 * carry); this file keeps the verdict on the one stream a check is, and
 * the words for each way it can fail. nghttp2 tells a stream's end and the
 * frame that caused it in separate callbacks: the frame callbacks note
 * what came (the server's RST_STREAM or GOAWAY, a malformed frame), the
 * stream's close turns that into a reason. */
#include "weir/h2check.h"
#include "weir/textbuf.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The body a server may send before the stream's reset reaches it. */
#define STREAM_WINDOW 16384
/* nghttp2's own guards (h2session uses the same for clients). */
#define MAX_CONTINUATIONS 8
#define MAX_OUTBOUND_ACK 100
#define MAX_SETTINGS_ENTRIES 32

struct h2check {
	nghttp2_session *ng;
	enum h2check_state state;
	int32_t id;                     /* the current check's stream; -1 before the first */
	int status;                     /* :status of the header block being decoded */
	size_t head_bytes;              /* ... and its fields, RFC 9113 counting */
	bool heard;                     /* the server sent something on the stream */
	bool reset_by_server;           /* ... and it was RST_STREAM */
	uint32_t reset_code;
	bool goaway;                    /* the server sent GOAWAY */
	uint32_t goaway_code;
	int32_t goaway_last_id;
	bool broken;                    /* a failure ended the session's use */
	bool got_bytes;                 /* anything from the server yet */
	size_t input;                   /* bytes from the server since the check began */
	char malformed[H2CHECK_REASON_MAX]; /* nghttp2's words on the stream's bad frame */
	char conn_error[H2CHECK_REASON_MAX];/* ... and on the connection's (our GOAWAY) */
	char reason[H2CHECK_REASON_MAX];
};

/* The check in flight fails with REASON (a check already decided keeps its
 * verdict); either way the session serves no more checks. */
static void check_failed(struct h2check *c, const char *reason)
{
	c->broken = true;
	if (c->state != H2CHECK_WAITING)
		return;
	c->state = H2CHECK_FAILED;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

static bool ours(const struct h2check *c, int32_t stream_id)
{
	return c->id >= 0 && stream_id == c->id;
}

/* ---- nghttp2 callbacks ------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2check *c = user;
	(void)ng;

	if (ours(c, f->hd.stream_id)) {
		c->heard = true;
		c->status = 0;
		c->head_bytes = 0;
	}
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
	struct h2check *c = user;
	char why[H2CHECK_REASON_MAX];
	(void)ng;
	(void)flags;

	if (!ours(c, f->hd.stream_id) || c->state != H2CHECK_WAITING)
		return 0;
	c->head_bytes += namelen + valuelen + 32;
	if (c->head_bytes > H2CHECK_HEAD_MAX) {
		textbuf_message(why, sizeof(why), "response head larger than %d bytes", H2CHECK_HEAD_MAX);
		check_failed(c, why);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	}
	/* nghttp2 has checked it: three digits */
	if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3)
		c->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
	return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2check *c = user;

	switch (f->hd.type) {
	case NGHTTP2_GOAWAY:
		/* before nghttp2 closes the streams it leaves unanswered */
		c->goaway = true;
		c->goaway_code = f->goaway.error_code;
		c->goaway_last_id = f->goaway.last_stream_id;
		break;
	case NGHTTP2_RST_STREAM:
		if (ours(c, f->hd.stream_id)) {
			c->heard = true;
			c->reset_by_server = true;
			c->reset_code = f->rst_stream.error_code;
		}
		break;
	case NGHTTP2_DATA:
		if (ours(c, f->hd.stream_id))
			c->heard = true;
		break;
	case NGHTTP2_HEADERS:
		if (!ours(c, f->hd.stream_id) || c->state != H2CHECK_WAITING || c->status < 200)
			break; /* trailers, or an interim head: the final one follows */
		c->state = H2CHECK_ANSWERED;
		/* The body is not wanted: the stream goes, the connection stays. */
		if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
		    nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, c->id, NGHTTP2_CANCEL) != 0)
			c->broken = true;
		break;
	default:
		break;
	}
	return 0;
}

static int on_invalid_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, int lib_error_code, void *user)
{
	struct h2check *c = user;
	(void)ng;

	if (ours(c, f->hd.stream_id) && !c->malformed[0])
		textbuf_message(c->malformed, sizeof(c->malformed), "malformed response: %s",
		                nghttp2_strerror(lib_error_code));
	return 0;
}

/* Our GOAWAY with an error: nghttp2 found a connection error, and its
 * debug data says which ("SETTINGS expected": the server's first frame
 * was not SETTINGS; "DATA: stream in idle" ...). */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2check *c = user;
	(void)ng;

	if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR && !c->conn_error[0])
		textbuf_message(c->conn_error, sizeof(c->conn_error), "HTTP/2 %s: %.*s",
		                nghttp2_http2_strerror(f->goaway.error_code),
		                (int)(f->goaway.opaque_data_len < 100 ? f->goaway.opaque_data_len : 100),
		                f->goaway.opaque_data ? (const char *)f->goaway.opaque_data : "");
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
	struct h2check *c = user;
	char why[H2CHECK_REASON_MAX];
	(void)ng;

	if (!ours(c, id) || c->state != H2CHECK_WAITING)
		return 0;
	if (c->reset_by_server)
		textbuf_message(why, sizeof(why), "reset by the server (RST_STREAM %s)",
		                nghttp2_http2_strerror(c->reset_code));
	else if (c->goaway && id > c->goaway_last_id)
		textbuf_message(why, sizeof(why), "refused by the server's GOAWAY (%s)",
		                nghttp2_http2_strerror(c->goaway_code));
	else if (c->malformed[0])
		textbuf_message(why, sizeof(why), "%s", c->malformed);
	else if (c->conn_error[0])
		textbuf_message(why, sizeof(why), "%s", c->conn_error);
	else
		textbuf_message(why, sizeof(why), "stream closed before a response head (%s)",
		                nghttp2_http2_strerror(code));
	check_failed(c, why);
	return 0;
}

/* ---- the session ---------------------------------------------------------------- */

static int set_options(nghttp2_option **opt)
{
	if (nghttp2_option_new(opt) != 0)
		return -1;
	nghttp2_option_set_no_closed_streams(*opt, 1);
	nghttp2_option_set_max_continuations(*opt, MAX_CONTINUATIONS);
	nghttp2_option_set_max_outbound_ack(*opt, MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(*opt, MAX_SETTINGS_ENTRIES);
	nghttp2_option_set_max_reserved_remote_streams(*opt, 0);
	return 0;
}

static int set_callbacks(nghttp2_session_callbacks **cbs)
{
	if (nghttp2_session_callbacks_new(cbs) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(*cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(*cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(*cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(*cbs, on_invalid_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(*cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(*cbs, on_stream_close);
	return 0;
}

struct h2check *h2check_new(char *err, size_t errlen)
{
	struct h2check *c = calloc(1, sizeof(*c));
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2CHECK_HEAD_MAX },
	};
	int rv = NGHTTP2_ERR_NOMEM;

	if (!c)
		goto fail;
	c->id = -1;
	if (set_options(&opt) != 0 || set_callbacks(&cbs) != 0)
		goto fail;
	if ((rv = nghttp2_session_client_new2(&c->ng, cbs, c, opt)) != 0 ||
	    (rv = nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]))) != 0)
		goto fail;
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	return c;
fail:
	textbuf_message(err, errlen, "h2check: %s", nghttp2_strerror(rv));
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	h2check_free(c);
	return NULL;
}

void h2check_free(struct h2check *c)
{
	if (!c)
		return;
	nghttp2_session_del(c->ng);
	free(c);
}

int h2check_request(struct h2check *c, const char *scheme, const char *authority, const char *path,
                    char *err, size_t errlen)
{
#define NV(n, v) { (uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }
	const nghttp2_nv nv[] = {
		NV(":method", "GET"), NV(":scheme", scheme), NV(":authority", authority), NV(":path", path),
		NV("user-agent", "weir-check"), NV("accept", "*/*"),
	};
#undef NV
	int32_t id;

	if (!h2check_usable(c)) {
		textbuf_message(err, errlen, "the connection takes no more checks");
		return -1;
	}
	/* copies the fields */
	id = nghttp2_submit_request(c->ng, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, NULL);
	if (id < 0) {
		textbuf_message(err, errlen, "cannot send the check: %s", nghttp2_strerror(id));
		return -1;
	}
	c->id = id;
	c->state = H2CHECK_WAITING;
	c->status = 0;
	c->heard = false;
	c->reset_by_server = false;
	c->input = 0;
	c->malformed[0] = '\0';
	c->reason[0] = '\0';
	return 0;
}

/* When nghttp2 wants nothing more from the server (it ended the session
 * after a connection error, once its GOAWAY is out; or the server's
 * GOAWAY left nothing open), a check still in flight has failed. */
static void settle(struct h2check *c)
{
	if (nghttp2_session_want_read(c->ng))
		return;
	if (c->conn_error[0])
		check_failed(c, c->conn_error);
	else
		h2check_fail(c, "the server ended the connection");
	c->broken = true;
}

int h2check_recv(struct h2check *c, const uint8_t *data, size_t len)
{
	char why[H2CHECK_REASON_MAX];
	ssize_t n;

	if (c->broken)
		return -1;
	/* An HTTP/1.x server answers the preface with a status line (the
	 * demo backend: 400); nghttp2 would only say that SETTINGS was
	 * expected. */
	if (!c->got_bytes && len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		check_failed(c, "the server answered in HTTP/1.x, not HTTP/2");
		return -1;
	}
	c->got_bytes = c->got_bytes || len > 0;
	c->input += len;
	if (c->input > H2CHECK_INPUT_MAX) {
		textbuf_message(why, sizeof(why), "more than %d bytes from the server without an answer",
		                H2CHECK_INPUT_MAX);
		check_failed(c, why);
		return -1;
	}
	n = nghttp2_session_mem_recv(c->ng, data, len);
	if (n < 0) {
		textbuf_message(why, sizeof(why), "HTTP/2: %s", nghttp2_strerror((int)n));
		check_failed(c, why);
		return -1;
	}
	settle(c);
	return c->broken ? -1 : 0;
}

ssize_t h2check_output(struct h2check *c, const uint8_t **data)
{
	ssize_t n = nghttp2_session_mem_send(c->ng, data);

	if (n < 0) {
		char why[H2CHECK_REASON_MAX];
		textbuf_message(why, sizeof(why), "HTTP/2: %s", nghttp2_strerror((int)n));
		check_failed(c, why);
		return -1;
	}
	if (n == 0)
		settle(c);
	return n;
}

void h2check_fail(struct h2check *c, const char *why)
{
	char full[H2CHECK_REASON_MAX];

	if (c->goaway)
		textbuf_message(full, sizeof(full), "GOAWAY %s from the server, then %s",
		                nghttp2_http2_strerror(c->goaway_code), why);
	else
		textbuf_message(full, sizeof(full), "%s", why);
	check_failed(c, full);
}

enum h2check_state h2check_state(const struct h2check *c)
{
	return c->state;
}

int h2check_status(const struct h2check *c)
{
	return c->state == H2CHECK_ANSWERED ? c->status : 0;
}

const char *h2check_reason(const struct h2check *c)
{
	return c->state == H2CHECK_FAILED ? c->reason : "";
}

bool h2check_heard(const struct h2check *c)
{
	return c->heard;
}

bool h2check_usable(const struct h2check *c)
{
	return !c->broken && !c->goaway && c->state != H2CHECK_WAITING && c->state != H2CHECK_FAILED &&
	       nghttp2_session_want_read(c->ng) && nghttp2_session_check_request_allowed(c->ng);
}

bool h2check_done(const struct h2check *c)
{
	return !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng);
}
