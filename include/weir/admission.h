/* admission: the data path's process-wide connection counters.
 *
 * Owns: how many client connections are open across all workers (admitted
 * against limits.max_connections), how many were refused, and how many TLS
 * handshakes failed on either side. The runtime embeds one; the workers
 * count through these functions, status reads through them. Any thread:
 * relaxed atomics, no lock (a count, not a synchronisation). */
#ifndef WEIR_ADMISSION_H
#define WEIR_ADMISSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct admission {
	_Atomic uint32_t open;
	_Atomic uint64_t refused;
	_Atomic uint64_t tls_handshake_failures;
	_Atomic uint64_t tls_upstream_failures;
};

/* A new client connection: admitted (counted open, true) unless REFUSE or
 * MAX connections are open already (counted refused, false). */
bool admission_enter(struct admission *a, uint32_t max, bool refuse);
/* An admitted connection closed, or could not be set up after all. */
void admission_leave(struct admission *a);

void admission_tls_handshake_failed(struct admission *a);
void admission_tls_upstream_failed(struct admission *a);
uint64_t admission_tls_handshake_failures(const struct admission *a);
uint64_t admission_tls_upstream_failures(const struct admission *a);

#endif
