/* blockpool: small heap blocks kept per thread for reuse (see
 * include/weir/blockpool.h for why).
 *
 * Every block has a 16-byte header in front (it keeps max_align_t
 * alignment): its size class and its usable size. Class C holds blocks of
 * 64 << C bytes; a request is rounded up to its class, so a kept block fits
 * any later request of the class. A freed block of a class whose list is
 * not full goes onto the calling thread's list (its first bytes hold the
 * link); anything else goes back to malloc. */
#include "weir/blockpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define NCLASS 7                     /* 64 B ... 4 KiB */
#define CLASS_MIN 64
#define BIG NCLASS                   /* the class of a block from malloc alone */

#if defined(__SANITIZE_ADDRESS__)
#define KEEP_BLOCKS 0                /* every free reaches ASan */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_BLOCKS 0
#endif
#endif
#ifndef KEEP_BLOCKS
#define KEEP_BLOCKS 1
#endif

struct header {
	uint32_t cls;
	uint32_t unused;
	size_t size;                     /* usable bytes after the header */
};
#define HDR 16
_Static_assert(sizeof(struct header) <= HDR, "the header fits its 16 bytes");

struct kept {
	struct kept *next;
};

static _Thread_local struct {
	struct kept *head[NCLASS];
	unsigned n[NCLASS];
} cache;

static uint32_t class_of(size_t size)
{
	uint32_t c = 0;
	size_t cap = CLASS_MIN;

	while (c < NCLASS && cap < size) {
		cap <<= 1;
		c++;
	}
	return c;
}

void *blockpool_alloc(size_t size)
{
	uint32_t c = class_of(size);
	struct header *h;

	if (KEEP_BLOCKS && c < NCLASS && cache.head[c]) {
		struct kept *k = cache.head[c];
		cache.head[c] = k->next;
		cache.n[c]--;
		return k;
	}
	size_t usable = c < NCLASS ? (size_t)CLASS_MIN << c : size;
	if (usable > SIZE_MAX - HDR || !(h = malloc(usable + HDR)))
		return NULL;
	h->cls = c;
	h->size = usable;
	return (char *)h + HDR;
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

static struct header *header_of(void *ptr)
{
	return (struct header *)(void *)((char *)ptr - HDR);
}

void blockpool_free(void *ptr)
{
	if (!ptr)
		return;
	struct header *h = header_of(ptr);
	uint32_t c = h->cls;
	if (KEEP_BLOCKS && c < NCLASS && cache.n[c] < BLOCKPOOL_CLASS_BYTES / ((size_t)CLASS_MIN << c)) {
		struct kept *k = ptr;
		k->next = cache.head[c];
		cache.head[c] = k;
		cache.n[c]++;
		return;
	}
	free(h);
}

void *blockpool_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return blockpool_alloc(size);
	if (size == 0) {
		blockpool_free(ptr);
		return NULL;
	}
	size_t old = header_of(ptr)->size;
	if (size <= old)
		return ptr;
	void *q = blockpool_alloc(size);
	if (!q)
		return NULL; /* PTR stays valid, as with realloc */
	memcpy(q, ptr, old);
	blockpool_free(ptr);
	return q;
}

void blockpool_thread_release(void)
{
	for (int c = 0; c < NCLASS; c++) {
		while (cache.head[c]) {
			struct kept *k = cache.head[c];
			cache.head[c] = k->next;
			free(header_of(k));
		}
		cache.n[c] = 0;
	}
}

void blockpool_install(void)
{
	event_set_mem_functions(blockpool_alloc, blockpool_realloc, blockpool_free);
}
