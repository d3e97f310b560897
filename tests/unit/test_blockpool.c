/* blockpool: per-thread reuse of small blocks; realloc's contract; libevent
 * running on it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "weir/blockpool.h"

#if defined(__SANITIZE_ADDRESS__)
#define KEEPS 0 /* the pool passes everything to malloc under ASan */
#else
#define KEEPS 1
#endif

/* Every size is usable in full and aligned for any type. */
static void test_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 63, 64, 65, 127, 128, 1000, 4095, 4096, 4097, 100000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = blockpool_alloc(sizes[i]);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		memset(p, 0xa5, sizes[i]);
		blockpool_free(p);
	}
	blockpool_free(NULL);
	blockpool_thread_release();
}

/* A freed block of a class is handed out again for any size of the class;
 * one of another class is not. */
static void test_reuse(void **state)
{
	(void)state;
	void *a = blockpool_alloc(100); /* the class of 89..104 bytes */
	blockpool_free(a);
	void *b = blockpool_alloc(90);
	if (KEEPS)
		assert_ptr_equal(a, b);
	void *c = blockpool_alloc(100);
	assert_ptr_not_equal(b, c); /* B is in use */
	blockpool_free(b);
	blockpool_free(c);
	void *d = blockpool_alloc(1000); /* the 1 KiB class: not C's */
	assert_ptr_not_equal(d, c);
	blockpool_free(d);
	blockpool_thread_release();
}

/* At most BLOCKPOOL_THREAD_BYTES are kept; the rest goes to malloc, and
 * everything is still usable afterwards. */
static void test_keep_bound(void **state)
{
	(void)state;
	enum { N = BLOCKPOOL_THREAD_BYTES / 4104 + 50 };
	static void *p[N];
	for (int i = 0; i < N; i++)
		assert_non_null(p[i] = blockpool_alloc(4096)); /* the last class, 4104 */
	for (int i = 0; i < N; i++)
		blockpool_free(p[i]);
	/* the bound holds, and it was filled: the last 50 went to malloc */
	assert_true(blockpool_kept_bytes() <= BLOCKPOOL_THREAD_BYTES);
	if (KEEPS)
		assert_true(blockpool_kept_bytes() > BLOCKPOOL_THREAD_BYTES - 4104);
	else
		assert_int_equal(blockpool_kept_bytes(), 0);
	/* the next N take the kept ones first */
	for (int i = 0; i < N; i++) {
		assert_non_null(p[i] = blockpool_alloc(4096));
		memset(p[i], i, 4096);
	}
	for (int i = 0; i < N; i++)
		blockpool_free(p[i]);
	blockpool_thread_release();
}

static void test_zeroed(void **state)
{
	(void)state;
	unsigned char *p = blockpool_alloc(300);
	memset(p, 0xff, 300);
	blockpool_free(p);
	unsigned char *q = blockpool_calloc(30, 10); /* likely P again: zeroed */
	for (int i = 0; i < 300; i++)
		assert_int_equal(q[i], 0);
	blockpool_free(q);
	assert_null(blockpool_calloc(SIZE_MAX / 2, 3)); /* overflow */
	blockpool_thread_release();
}

/* realloc: NULL allocates, a block with room stays (when the pool keeps
 * blocks; realloc(3) may move it), growth keeps the bytes across classes
 * and into malloc's sizes, 0 frees. */
static void test_resize(void **state)
{
	(void)state;
	unsigned char *p = blockpool_realloc(NULL, 10);
	assert_non_null(p);
	memcpy(p, "0123456789", 10);
	unsigned char *same = blockpool_realloc(p, 24); /* its block holds 24 */
	if (KEEPS)
		assert_ptr_equal(same, p);
	unsigned char *q = blockpool_realloc(same, 3000);
	assert_memory_equal(q, "0123456789", 10);
	memset(q + 10, 'x', 2990);
	unsigned char *r = blockpool_realloc(q, 50000);
	assert_memory_equal(r, "0123456789", 10);
	assert_int_equal(r[2999], 'x');
	unsigned char *shrunk = blockpool_realloc(r, 100);
	if (KEEPS)
		assert_ptr_equal(shrunk, r); /* shrinking keeps it */
	assert_memory_equal(shrunk, "0123456789", 10);
	assert_null(blockpool_realloc(shrunk, 0));
	blockpool_thread_release();
}

static void *alloc_in_thread(void *arg)
{
	(void)arg;
	return blockpool_alloc(500);
}

/* A block allocated by one thread and freed by another joins the freeing
 * thread's cache, and serves it. */
static void test_other_thread(void **state)
{
	(void)state;
	pthread_t t;
	void *p;
	assert_int_equal(pthread_create(&t, NULL, alloc_in_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &p), 0);
	assert_non_null(p);
	memset(p, 1, 500);
	blockpool_free(p);
	void *q = blockpool_alloc(490);
	if (KEEPS)
		assert_ptr_equal(p, q);
	blockpool_free(q);
	blockpool_thread_release();
}

/* libevent's chain sizes (1024, 2048, 4096 bytes) are classes of their
 * own: a freed chain serves the next chain of its size. A block larger than
 * the last class is not kept (it could serve no request). */
static void test_chain_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1024, 2048, 4096 };
	for (size_t i = 0; i < 3; i++) {
		void *a = blockpool_alloc(sizes[i]);
		blockpool_free(a);
		void *b = blockpool_alloc(sizes[i]);
		if (KEEPS)
			assert_ptr_equal(a, b);
		blockpool_free(b);
	}
	size_t kept = blockpool_kept_bytes();
	blockpool_free(malloc(4400)); /* larger than the last class: to malloc */
	assert_int_equal(blockpool_kept_bytes(), kept);
	blockpool_thread_release();
	assert_int_equal(blockpool_kept_bytes(), 0);
}

/* Pool blocks are malloc's: free() takes one, and the pool takes a block
 * from malloc. */
static void test_plain_malloc(void **state)
{
	(void)state;
	free(blockpool_alloc(100));
	free(blockpool_alloc(5000));
	void *m = malloc(100);
	blockpool_free(m);
	void *n = blockpool_alloc(100);
	if (KEEPS)
		assert_ptr_equal(m, n);
	blockpool_free(n);
	blockpool_thread_release();
}

/* libevent on the pool: buffers, chains and a bufferevent pair come and go. */
static void test_libevent(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	for (int round = 0; round < 100; round++) {
		struct bufferevent *pair[2];
		assert_int_equal(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair), 0);
		bufferevent_enable(pair[0], EV_READ | EV_WRITE);
		bufferevent_enable(pair[1], EV_READ | EV_WRITE);
		assert_int_equal(bufferevent_write(pair[0], "hello", 5), 0);
		event_base_loop(base, EVLOOP_NONBLOCK);
		char got[8] = { 0 };
		assert_int_equal(bufferevent_read(pair[1], got, sizeof(got)), 5);
		assert_string_equal(got, "hello");
		bufferevent_free(pair[0]);
		bufferevent_free(pair[1]);
	}
	event_base_free(base);
	blockpool_thread_release();
}

int main(void)
{
	blockpool_install(); /* before any other libevent call */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_keep_bound),
		cmocka_unit_test(test_zeroed),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_other_thread),
		cmocka_unit_test(test_plain_malloc),
		cmocka_unit_test(test_chain_sizes),
		cmocka_unit_test(test_libevent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
