/* page: the status page the admin listener serves at GET /.
 * Owns: the status page's bytes, embedded at build time.
 *
 * One self-contained HTML document: inline CSS and JavaScript, nothing loaded
 * from another origin (its Content-Security-Policy forbids it). In the
 * browser it fetches "stats.json", relative to the page, once a second and
 * shows the guard state, the traffic split, the rollout, per pool the rates,
 * error rates, latencies and servers, a latency chart per pool drawn from the
 * samples it has seen, and the latest events; a banner says when stats.json
 * cannot be fetched. Everything from the JSON goes into the DOM as text.
 *
 * Static read-only data: any thread may read it. */
#ifndef WEIR_PAGE_H
#define WEIR_PAGE_H

#include <stddef.h>

/* The page, NUL-terminated. Serve it as "text/html; charset=utf-8". */
extern const char admin_page_html[];

/* Its length in bytes, without the NUL (strlen(admin_page_html)). */
extern const size_t admin_page_html_len;

#endif
