/* net: listening sockets, made one way for every listener weir opens (the
 * Owns: how a listening socket is made; the socket belongs to the caller.
 * proxy's listeners in each worker, the admin HTTP listener). */
#ifndef WEIR_NET_H
#define WEIR_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "weir/config-t.h"

/* A non-blocking, close-on-exec socket listening on ADDR with BACKLOG:
 * SO_REUSEADDR always (a restart must not wait out TIME_WAIT), SO_REUSEPORT
 * when REUSEPORT (one socket per worker thread), IPV6_V6ONLY for IPv6 (an
 * IPv6 address means IPv6 only, as written). Returns the descriptor, or -1
 * with ERR "cannot listen on ADDR: reason" (WHAT, when not NULL, follows
 * the address in parentheses: "(admin.http)"). */
int net_listen(const struct cfg_addr *addr, bool reuseport, int backlog, const char *what,
               char *err, size_t errlen);

#endif
