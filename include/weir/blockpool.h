/* blockpool: small heap blocks kept per thread for reuse.
 *
 * A proxied HTTP/2 stream allocates and frees some 25 small blocks: the
 * bufferevent pair that carries it to the proxy and their buffers and
 * chains (libevent), nghttp2's stream and frame records, the response
 * queue. Hundreds of streams are in flight at once, so glibc's per-thread
 * cache (7 blocks per size) overflows and most of them take malloc's slow
 * path: about a fifth of a 3-byte stream's instructions (callgrind). The
 * pool keeps freed blocks of up to 4 KiB in size classes, up to
 * BLOCKPOOL_THREAD_BYTES per thread, and hands them out again; larger
 * blocks go to malloc. The classes are glibc's own chunk sizes, so an
 * object costs no more memory than malloc would give it.
 *
 * It serves libevent (blockpool_install, before any other libevent call)
 * and nghttp2's sessions. A block may be freed by another thread than the
 * one that allocated it: it then joins that thread's cache. With
 * AddressSanitizer (and without glibc) the pool passes everything to
 * malloc, so that a freed block stays poisoned and a use after free is
 * still found. */
#ifndef WEIR_BLOCKPOOL_H
#define WEIR_BLOCKPOOL_H

#include <stddef.h>

/* Bytes kept per thread, all sizes together. Enough for a burst of 500
 * streams in flight on a worker, whose blocks come back as a burst too:
 * with much less kept, most of the next burst's blocks come from malloc
 * again. weir keeps up to 64 MiB of freed heap in glibc anyway (main.c,
 * M_TRIM_THRESHOLD), so what the pool keeps is memory the process would
 * hold either way. */
#define BLOCKPOOL_THREAD_BYTES (16u << 20)

void *blockpool_alloc(size_t size);
void *blockpool_calloc(size_t nmemb, size_t size);
/* realloc(3)'s contract: NULL PTR allocates; a block that already has room
 * for SIZE is returned as it is. */
void *blockpool_realloc(void *ptr, size_t size);
void blockpool_free(void *ptr);

/* Bytes the calling thread keeps now (tests, diagnostics). */
size_t blockpool_kept_bytes(void);

/* Give the calling thread's kept blocks back to malloc (at a thread's end:
 * its cache would be lost with it). */
void blockpool_thread_release(void);

/* Make libevent allocate through the pool. Call first thing in main:
 * libevent must not have allocated anything yet. */
void blockpool_install(void);

#endif
