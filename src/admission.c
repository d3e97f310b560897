/* admission: the data path's process-wide connection counters (see
 * include/weir/admission.h). */
#include "weir/admission.h"

bool admission_enter(struct admission *a, uint32_t max, bool refuse)
{
	uint32_t n = atomic_fetch_add_explicit(&a->open, 1, memory_order_relaxed);

	if (refuse || n >= max) {
		atomic_fetch_sub_explicit(&a->open, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&a->refused, 1, memory_order_relaxed);
		return false;
	}
	return true;
}

void admission_leave(struct admission *a)
{
	atomic_fetch_sub_explicit(&a->open, 1, memory_order_relaxed);
}

void admission_tls_handshake_failed(struct admission *a)
{
	atomic_fetch_add_explicit(&a->tls_handshake_failures, 1, memory_order_relaxed);
}

void admission_tls_upstream_failed(struct admission *a)
{
	atomic_fetch_add_explicit(&a->tls_upstream_failures, 1, memory_order_relaxed);
}

uint64_t admission_tls_handshake_failures(const struct admission *a)
{
	return atomic_load_explicit(&a->tls_handshake_failures, memory_order_relaxed);
}

uint64_t admission_tls_upstream_failures(const struct admission *a)
{
	return atomic_load_explicit(&a->tls_upstream_failures, memory_order_relaxed);
}
