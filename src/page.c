/* page: the status page the admin listener serves at GET / (see
 * include/weir/page.h).
 *
 * The document is src/status.html, a real HTML file that editors, linters
 * (tidy, in tests/integration/status_page.sh) and browsers read as it is.
 * The assembler embeds it at build time (.incbin; Makefile.am passes its
 * path as WEIR_STATUS_HTML and rebuilds this object when it changes), with
 * a NUL after it and its length beside it, so that no generated source and
 * no C escaping stand between the file and what weir serves. Nothing in it
 * may load from another origin: its own Content-Security-Policy forbids it,
 * and status_page.sh renders the page in headless Chromium and checks what
 * it shows. */
#include "weir/page.h"

#ifndef WEIR_STATUS_HTML
#error "WEIR_STATUS_HTML must name src/status.html (Makefile.am sets it)"
#endif

/* .quad below stores the length as a 64-bit size_t. */
_Static_assert(sizeof(size_t) == 8, "the embedded page's length is stored as 8 bytes");

__asm__(
	"	.pushsection .rodata\n"
	"	.balign 16\n"
	"	.globl admin_page_html\n"
	"	.type admin_page_html, @object\n"
	"admin_page_html:\n"
	"	.incbin \"" WEIR_STATUS_HTML "\"\n"
	".Ladmin_page_html_end:\n"
	"	.byte 0\n"
	"	.size admin_page_html, . - admin_page_html\n"
	"	.balign 8\n"
	"	.globl admin_page_html_len\n"
	"	.type admin_page_html_len, @object\n"
	"admin_page_html_len:\n"
	"	.quad .Ladmin_page_html_end - admin_page_html\n"
	"	.size admin_page_html_len, 8\n"
	"	.popsection\n");
