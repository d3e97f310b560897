/* split: pool choice per request and server choice inside a pool (see
 * include/weir/split.h). Pure functions over plain data. */
#include "weir/split.h"

#include <limits.h>
#include <string.h>

/* ---- mixing ------------------------------------------------------------- */

#define GOLDEN_GAMMA UINT64_C(0x9E3779B97F4A7C15)    /* 2^64 / phi, odd */

/* A 64-bit finalizer (the splitmix64 output function): a bijection in
 * which every input bit affects every output bit with probability ~1/2. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* [0, WEIGHT_SCALE) from the top 32 bits of X by multiply-high:
 * floor(hi32 * 10000 / 2^32). Each bucket receives either 429,496 or
 * 429,497 of the 2^32 inputs (a relative bias below 2.4e-6), so the canary
 * probability at any weight is off by less than 2.4e-6 absolute: far below
 * what any rollout can notice. No division and no modulo. */
static uint32_t to_bucket(uint64_t x)
{
	return (uint32_t)(((x >> 32) * WEIGHT_SCALE) >> 32);
}

/* ---- random split ------------------------------------------------------- */

/* splitmix64: the state walks a Weyl sequence (period 2^64) and each output
 * is the mix of the state. Seeding through mix64 puts nearby seeds (worker
 * 0, 1, 2 ...) at unrelated points of that sequence, so their streams do
 * not overlap in any realistic run. */
void split_rng_seed(struct split_rng *rng, uint64_t seed)
{
	rng->state = mix64(seed ^ UINT64_C(0x5745495220524E47));    /* "WEIR RNG" */
}

uint64_t split_rng_next(struct split_rng *rng)
{
	rng->state += GOLDEN_GAMMA;
	return mix64(rng->state);
}

uint32_t split_rng_bucket(struct split_rng *rng)
{
	return to_bucket(split_rng_next(rng));
}

/* ---- sticky split ------------------------------------------------------- */

/* FNV-1a over the bytes, then mix64: FNV alone leaves its high bits weakly
 * dependent on the last bytes, and the bucket is taken from the high bits.
 * Fixed constants and no seed: a key keeps its bucket across restarts,
 * builds and machines (changing this function moves users between pools). */
uint32_t split_key_bucket(const char *key, size_t len)
{
	const unsigned char *p = (const unsigned char *)key;
	uint64_t h = UINT64_C(0xCBF29CE484222325);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001B3);
	}
	return to_bucket(mix64(h));
}

/* ---- header parsing ----------------------------------------------------- */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool equals_nocase(const char *s, size_t len, const char *word)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (word[i] == '\0' || ascii_lower(s[i]) != word[i])
			return false;
	return word[len] == '\0';
}

/* Shrink [*s, *s + *len) past leading and trailing spaces and tabs. */
static void trim_ows(const char **s, size_t *len)
{
	while (*len > 0 && is_ows(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_ows((*s)[*len - 1]))
		(*len)--;
}

int split_parse_override(const char *value, size_t len)
{
	if (value == NULL)
		return -1;
	trim_ows(&value, &len);
	if (equals_nocase(value, len, "baseline"))
		return POOL_BASELINE;
	if (equals_nocase(value, len, "canary"))
		return POOL_CANARY;
	return -1;
}

/* RFC 6265 section 4.2.1: cookie-pair *( ";" SP cookie-pair ), where
 * cookie-pair is name "=" value. We also accept what real clients send:
 * any spaces or tabs around names and values, a missing space after ';',
 * and empty segments (";;"). A segment without '=' is skipped. Names match
 * exactly and case-sensitively ("uid" is not found in "xuid=1"). The value
 * is returned without surrounding whitespace and, when it is a quoted
 * string, without its DQUOTEs. The first matching pair wins. */
bool split_find_cookie(const char *value, size_t len, const char *name,
                       const char **out, size_t *outlen)
{
	const char *end;
	size_t namelen;

	if (value == NULL || name == NULL || name[0] == '\0')
		return false;
	namelen = strlen(name);
	end = value + len;

	while (value < end) {
		const char *seg = value, *eq, *segend, *n, *v;
		size_t nlen, vlen;

		segend = memchr(seg, ';', (size_t)(end - seg));
		if (segend == NULL)
			segend = end;
		value = segend < end ? segend + 1 : end;

		eq = memchr(seg, '=', (size_t)(segend - seg));
		if (eq == NULL)
			continue;
		n = seg;
		nlen = (size_t)(eq - seg);
		trim_ows(&n, &nlen);
		if (nlen != namelen || memcmp(n, name, nlen) != 0)
			continue;

		v = eq + 1;
		vlen = (size_t)(segend - v);
		trim_ows(&v, &vlen);
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (out != NULL)
			*out = v;
		if (outlen != NULL)
			*outlen = vlen;
		return true;
	}
	return false;
}

/* ---- server choice ------------------------------------------------------ */

static bool server_up(const struct split_server_view *s, uint64_t now_ms)
{
	return split_server_available(s, now_ms);
}

/* Every server is down: the one whose back-off ends first, the first in
 * round-robin order on a tie; a server down by its health check never.
 * Sets *FOUND. */
static size_t pick_earliest(const struct split_server_view *servers, size_t n, size_t start,
                            bool *found)
{
	size_t best = 0, k;

	*found = false;
	for (k = 0; k < n; k++) {
		size_t i = (start + k) % n;

		if (split_server_check_down(&servers[i]))
			continue;
		if (!*found || servers[i].down_until_ms < servers[best].down_until_ms)
			best = i;
		*found = true;
	}
	return best;
}

/* Round robin: the first up server at or after the cursor. Down servers are
 * skipped without taking a turn, so with B down "A B C" serves A C A C. */
static size_t pick_round_robin(const struct split_server_view *servers, size_t n, size_t start,
                               uint64_t now_ms, bool *found)
{
	size_t k;

	for (k = 0; k < n; k++) {
		size_t i = (start + k) % n;

		if (server_up(&servers[i], now_ms)) {
			*found = true;
			return i;
		}
	}
	*found = false;
	return 0;
}

/* Least connections among up servers; among equals, the first at or after
 * the cursor, so that idle servers (all at 0) take turns instead of the
 * first one taking every request. */
static size_t pick_least_conn(const struct split_server_view *servers, size_t n, size_t start,
                              uint64_t now_ms, bool *found)
{
	size_t best = 0, k;

	*found = false;
	for (k = 0; k < n; k++) {
		size_t i = (start + k) % n;

		if (!server_up(&servers[i], now_ms))
			continue;
		if (!*found || servers[i].active < servers[best].active) {
			best = i;
			*found = true;
		}
	}
	return best;
}

int split_pick_server(enum balance balance, const struct split_server_view *servers, size_t n,
                      uint32_t *cursor, uint64_t now_ms)
{
	size_t start, pick;
	bool found;

	if (n == 0 || n > INT_MAX)
		return -1;
	start = *cursor % n;
	if (balance == BALANCE_LEAST_CONN)
		pick = pick_least_conn(servers, n, start, now_ms, &found);
	else
		pick = pick_round_robin(servers, n, start, now_ms, &found);
	if (!found)
		pick = pick_earliest(servers, n, start, &found);
	if (!found)
		return -1;
	*cursor = (uint32_t)((pick + 1) % n);
	return (int)pick;
}
