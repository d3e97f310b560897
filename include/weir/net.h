/* net: listening sockets, made one way for every listener weir opens (the
 * Owns: how a listening socket is made; the socket belongs to the caller.
 * proxy's listeners in each worker, the admin HTTP listener), and the one
 * way weir itself writes a connection's queued bytes. */
#ifndef WEIR_NET_H
#define WEIR_NET_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/util.h>

#include "weir/config-t.h"

struct bufferevent;

/* A non-blocking, close-on-exec socket listening on ADDR with BACKLOG:
 * SO_REUSEADDR always (a restart must not wait out TIME_WAIT), SO_REUSEPORT
 * when REUSEPORT (one socket per worker thread), IPV6_V6ONLY for IPv6 (an
 * IPv6 address means IPv6 only, as written). Returns the descriptor, or -1
 * with ERR "cannot listen on ADDR: reason" (WHAT, when not NULL, follows
 * the address in parentheses: "(admin.http)"). */
int net_listen(const struct cfg_addr *addr, bool reuseport, int backlog, const char *what,
               char *err, size_t errlen);

/* Send what the socket bufferevent BEV's output holds to its socket now, as
 * much as the socket takes (sendmsg, non-blocking), and drain it. What the
 * socket did not take, and any failure, is left to BEV, whose own write
 * (EV_WRITE) reports it. Returns true when the output is empty. */
bool net_send_output(struct bufferevent *bev);

#endif
