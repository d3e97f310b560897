/* blockpool: small heap blocks kept per thread for reuse (see
 * include/weir/blockpool.h for why).
 *
 * Blocks are malloc's own, without a header of ours: a freed block's size
 * is malloc_usable_size(). There is one size class per glibc chunk size up
 * to 4 KiB and a little: usable 24, 40, 56, ... 4104 bytes (16 apart; 4104
 * is what malloc(4096), libevent's largest common buffer chain, gets). A
 * request takes a block of the smallest class that holds it, allocated at
 * exactly that size, so an object costs what malloc(size) would have cost.
 * A freed block joins the class of its usable size; one larger than the
 * last class goes back to malloc (it could never be handed out again). A
 * freed block goes onto the calling thread's list of its class (its first
 * bytes hold the link) while the thread keeps less than
 * BLOCKPOOL_THREAD_BYTES; anything else goes back to malloc. Since blocks
 * are plain malloc blocks, free() of one is harmless too. */
#include "weir/blockpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#if defined(__GLIBC__)
#include <malloc.h>
#define KEEP_BLOCKS 1
#else
#define KEEP_BLOCKS 0                /* no malloc_usable_size to rely on */
#endif
#if defined(__SANITIZE_ADDRESS__)
#undef KEEP_BLOCKS
#define KEEP_BLOCKS 0                /* every free reaches ASan */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#undef KEEP_BLOCKS
#define KEEP_BLOCKS 0
#endif
#endif

#define CLASS_MIN 24                 /* glibc's smallest usable size (64-bit) */
#define NCLASS 256                   /* 24, 40, ... 4104 */
#define CLASS_MAX (CLASS_MIN + 16 * (NCLASS - 1))

struct kept {
	struct kept *next;
};

static _Thread_local struct {
	struct kept *head[NCLASS];
	size_t bytes;                    /* kept, all classes */
} cache;

static size_t class_size(unsigned c)
{
	return CLASS_MIN + 16 * (size_t)c;
}

/* The smallest class that holds SIZE (<= CLASS_MAX). */
static unsigned class_for_request(size_t size)
{
	return size <= CLASS_MIN ? 0 : (unsigned)((size - CLASS_MIN + 15) / 16);
}

#if KEEP_BLOCKS
/* The class of a block of USABLE bytes: the largest that it holds; NCLASS
 * for one that is too small (not glibc's) or larger than the last class. */
static unsigned class_for_block(size_t usable)
{
	if (usable < CLASS_MIN || usable > CLASS_MAX)
		return NCLASS;
	return (unsigned)((usable - CLASS_MIN) / 16);
}
#endif

void *blockpool_alloc(size_t size)
{
	if (!KEEP_BLOCKS || size > CLASS_MAX)
		return malloc(size ? size : 1);
	unsigned c = class_for_request(size);
	struct kept *k = cache.head[c];
	if (k) {
		cache.head[c] = k->next;
		cache.bytes -= class_size(c);
		return k;
	}
	return malloc(class_size(c));
}

void *blockpool_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	if ((p = blockpool_alloc(nmemb * size)) != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

void blockpool_free(void *ptr)
{
	if (!ptr)
		return;
#if KEEP_BLOCKS
	unsigned c = class_for_block(malloc_usable_size(ptr));
	if (c < NCLASS && cache.bytes + class_size(c) <= BLOCKPOOL_THREAD_BYTES) {
		struct kept *k = ptr;
		k->next = cache.head[c];
		cache.head[c] = k;
		cache.bytes += class_size(c);
		return;
	}
#endif
	free(ptr);
}

void *blockpool_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return blockpool_alloc(size);
	if (size == 0) {
		blockpool_free(ptr);
		return NULL;
	}
#if KEEP_BLOCKS
	size_t old = malloc_usable_size(ptr);
	if (size <= old)
		return ptr;
	if (size > CLASS_MAX)
		return realloc(ptr, size); /* glibc may grow it in place */
	void *q = blockpool_alloc(size);
	if (!q)
		return NULL; /* PTR stays valid, as with realloc */
	memcpy(q, ptr, old);
	blockpool_free(ptr);
	return q;
#else
	return realloc(ptr, size);
#endif
}

size_t blockpool_kept_bytes(void)
{
	return cache.bytes;
}

void blockpool_thread_release(void)
{
	for (unsigned c = 0; c < NCLASS; c++) {
		while (cache.head[c]) {
			struct kept *k = cache.head[c];
			cache.head[c] = k->next;
			free(k);
		}
	}
	cache.bytes = 0;
}

void blockpool_install(void)
{
	event_set_mem_functions(blockpool_alloc, blockpool_realloc, blockpool_free);
}
