/* blockpool: small heap blocks kept per thread for reuse (see
 * include/weir/blockpool.h for why).
 *
 * Blocks are malloc's own, without a header of ours: a freed block's size
 * is malloc_usable_size(). Size classes follow glibc's chunk sizes, whose
 * usable bytes are 24, 40, 56, ... (16 apart), up to 1016; above, classes
 * are 256 bytes apart up to 4088. A request takes a block of the smallest
 * class that holds it, allocated at exactly that class's size, so an object
 * costs what malloc(size) would have cost (an idle connection's libevent
 * objects do not grow); a freed block joins the largest class it holds. A
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

#define SMALL_CLASSES 63             /* 24, 40, ... 1016: 16 apart */
#define SMALL_MAX 1016
#define NCLASS (SMALL_CLASSES + 12)  /* then 1272, 1528, ... 4088: 256 apart */
#define CLASS_MAX 4088

struct kept {
	struct kept *next;
};

static _Thread_local struct {
	struct kept *head[NCLASS];
	size_t bytes;                    /* kept, all classes */
} cache;

static size_t class_size(unsigned c)
{
	return c < SMALL_CLASSES ? 24 + 16 * (size_t)c : SMALL_MAX + 256 * (size_t)(c - SMALL_CLASSES + 1);
}

/* The smallest class that holds SIZE (<= CLASS_MAX). */
static unsigned class_for_request(size_t size)
{
	if (size <= 24)
		return 0;
	if (size <= SMALL_MAX)
		return (unsigned)((size - 24 + 15) / 16);
	return SMALL_CLASSES - 1 + (unsigned)((size - SMALL_MAX + 255) / 256);
}

/* The largest class a block of USABLE bytes holds; NCLASS when it is too
 * large to keep (a block several classes above the last one). */
static unsigned class_for_block(size_t usable)
{
	if (usable < 24)
		return NCLASS;
	if (usable < SMALL_MAX + 256)
		return usable >= SMALL_MAX ? SMALL_CLASSES - 1 : (unsigned)((usable - 24) / 16);
	if (usable >= CLASS_MAX + 256)
		return NCLASS;
	return SMALL_CLASSES - 1 + (unsigned)((usable - SMALL_MAX) / 256);
}

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
