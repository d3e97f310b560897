"""weir's histograms read from the fleet's measurement records, merged and
asked for their p99 without weir's code (fleet.sh; stdlib only).

  hdr_merge.py RANGE_JSON POOL VIEW NODE...

RANGE_JSON is what `etcdctl get --prefix /weir/<name>/metrics/ -w json`
printed ("-": stdin). For each NODE, the record under .../metrics/NODE gives
pools.POOL.VIEW: its "requests" and its "hist", a histogram in weir's
encoding, base64. Each is decoded and checked, then all are added slot by
slot. Prints one JSON object:

  {"members": {NODE: {"requests": R, "p99_us": V, "p99_ms": "M"}, ...},
   "merged": {"requests": R1 + R2 + ..., "p99_us": V, "p99_ms": "M"}}

p99_ms is written the way weir's /stats.json writes p99_ms: "%.3f" of the
microseconds divided by 1000, so the two compare exactly as strings. Exits
with a message when a NODE has no record or a record does not decode.

The encoding (hdr_encode in src/hdr.c), every number an unsigned LEB128
varint in its shortest form: 'H', version 1, lowest, highest, sigfigs,
total, out_of_range, zigzag(min), zigzag(max), sum_lo, sum_hi; then the
slots from slot 0 on, each entry zigzag-coded: a positive one is the count
of the next slot, a negative one skips that many empty slots.

The geometry (the comment at the top of src/hdr.c): sub_count is the
smallest power of two holding 2 * 10^sigfigs, half = sub_count / 2; the
unit is the largest power of two not above lowest / 10^sigfigs (1 when
that is below 1). Bucket 0 covers [0, sub_count * unit) in sub_count slots
of one unit; bucket b >= 1 covers [half * unit * 2^b, sub_count * unit * 2^b)
in half slots of unit * 2^b; there are as many buckets as it takes to pass
highest. Slot numbers run through the buckets in order.

The percentile (hdr_value_at_percentile): the rank is the nearest rank,
ceil(p/100 * total) within 1..total, with p read as the decimal it was
written as; the value is the highest value of the slot where the running
count reaches the rank, but never more than the maximum recorded.
"""
import base64
import json
import sys
from fractions import Fraction

MAGIC = ord("H")
VERSION = 1


class Bad(Exception):
    """A record or histogram that is not what weir writes."""


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def more(self):
        return self.pos < len(self.data)

    def varint(self):
        value, shift, start = 0, 0, self.pos
        while True:
            if self.pos == len(self.data):
                raise Bad("truncated varint")
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift >= 70:
                raise Bad("varint longer than 10 bytes")
        if self.pos - start > 1 and b == 0:
            raise Bad("varint not in its shortest form")
        if value >= 1 << 64:
            raise Bad("varint above 64 bits")
        return value

    def zigzag(self):
        v = self.varint()
        return -((v + 1) >> 1) if v & 1 else v >> 1


class Geometry:
    def __init__(self, lowest, highest, sigfigs):
        if not 1 <= sigfigs <= 5 or lowest < 1 or highest // 2 < lowest:
            raise Bad("geometry lowest %d highest %d sigfigs %d" % (lowest, highest, sigfigs))
        self.key = (lowest, highest, sigfigs)
        self.sub_count = 1
        while self.sub_count < 2 * 10 ** sigfigs:
            self.sub_count *= 2
        self.half = self.sub_count // 2
        self.unit = 1
        while self.unit * 2 * 10 ** sigfigs <= lowest:
            self.unit *= 2
        buckets, reach = 1, self.sub_count * self.unit
        while reach <= highest:
            reach *= 2
            buckets += 1
        self.slots = self.sub_count + (buckets - 1) * self.half

    def slot_range(self, i):
        """The lowest and highest value slot I stands for."""
        if i < self.sub_count:
            return i * self.unit, (i + 1) * self.unit - 1
        b, j = i // self.half - 1, i % self.half
        width = self.unit << b
        low = (self.half + j) * width
        return low, low + width - 1


class Histogram:
    def __init__(self, geometry):
        self.geometry = geometry
        self.counts = {}                # slot -> count, only slots in use
        self.total = 0
        self.min = None
        self.max = None

    def add(self, other):
        if other.geometry.key != self.geometry.key:
            raise Bad("histograms of different geometries: %r and %r"
                      % (self.geometry.key, other.geometry.key))
        for i, c in other.counts.items():
            self.counts[i] = self.counts.get(i, 0) + c
        self.total += other.total
        if other.total:
            self.min = other.min if self.min is None else min(self.min, other.min)
            self.max = other.max if self.max is None else max(self.max, other.max)

    def value_at_percentile(self, percentile):
        if self.total == 0:
            return 0
        p = Fraction(str(percentile))
        if p <= 0:
            return self.min
        if p >= 100:
            return self.max
        x = p / 100 * self.total
        rank = 1 if x <= 1 else self.total if x >= self.total else -(-x.numerator // x.denominator)
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return min(self.geometry.slot_range(i)[1], self.max)
        raise Bad("counts below the rank")  # not reached: decode checked the total


def decode(data):
    r = Reader(data)
    if len(data) < 2 or data[0] != MAGIC or data[1] != VERSION:
        raise Bad("not a weir histogram of version %d" % VERSION)
    r.pos = 2
    lowest, highest, sigfigs, total, out_of_range = (r.varint() for _ in range(5))
    lo_min, hi_max = r.zigzag(), r.zigzag()
    s = r.varint() | r.varint() << 64
    h = Histogram(Geometry(lowest, highest, sigfigs))
    slot, after_skip = 0, False
    while r.more():
        v = r.zigzag()
        if v == 0:
            raise Bad("an empty entry")
        if v < 0:
            if after_skip:
                raise Bad("two skips in a row")
            slot += -v
            after_skip = True
            continue
        if slot >= h.geometry.slots:
            raise Bad("a count past the last slot")
        h.counts[slot] = v
        slot += 1
        after_skip = False
    if after_skip:
        raise Bad("a trailing skip")
    if sum(h.counts.values()) != total:
        raise Bad("slot counts %d for a total of %d" % (sum(h.counts.values()), total))
    if out_of_range > total:
        raise Bad("more values out of range than values")
    h.total = total
    if total == 0:
        if lo_min or hi_max or s:
            raise Bad("an empty histogram with a min, max or sum")
        return h
    first, last = min(h.counts), max(h.counts)
    f_lo, f_hi = h.geometry.slot_range(first)
    l_lo, l_hi = h.geometry.slot_range(last)
    if not (lowest <= lo_min <= hi_max <= highest and f_lo <= lo_min <= f_hi and l_lo <= hi_max <= l_hi):
        raise Bad("min %d or max %d not in the first or last slot used" % (lo_min, hi_max))
    if not total * lo_min <= s <= total * hi_max:
        raise Bad("a sum outside total x min .. total x max")
    h.min, h.max = lo_min, hi_max
    return h


def summary(requests, h):
    p99 = h.value_at_percentile(99.0)
    return {"requests": requests, "p99_us": p99, "p99_ms": "%.3f" % (p99 / 1000.0)}


def main(argv):
    if len(argv) < 5:
        sys.exit(__doc__)
    path, pool, view, nodes = argv[1], argv[2], argv[3], argv[4:]
    text = sys.stdin.read() if path == "-" else open(path).read()
    records = {}
    for kv in json.loads(text).get("kvs", []):
        key = base64.b64decode(kv["key"]).decode()
        records[key.rsplit("/", 1)[-1]] = json.loads(base64.b64decode(kv["value"]))
    out, merged, requests = {"members": {}}, None, 0
    for node in nodes:
        if node not in records:
            sys.exit("hdr_merge: no record of %s" % node)
        v = records[node]["pools"][pool][view]
        try:
            h = decode(base64.b64decode(v["hist"]))
            if h.total != v["requests"]:
                raise Bad("%d values for %d requests" % (h.total, v["requests"]))
            if merged is None:
                merged = Histogram(h.geometry)
            merged.add(h)
        except Bad as e:
            sys.exit("hdr_merge: %s's %s %s: %s" % (node, pool, view, e))
        out["members"][node] = summary(v["requests"], h)
        requests += v["requests"]
    out["merged"] = summary(requests, merged)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
