#!/usr/bin/env bash
# The two Quick start commands of the README, in one script:
#   contrib/quickstart.sh demo   install dependencies, build, run the demo
#   contrib/quickstart.sh test   install dependencies, build, run the whole
#                                test suite (plain build, then ASan+UBSan)
# Meant for a fresh Debian 12 machine as root; every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

# Build and test dependencies (Debian package names).
DEPS=(build-essential autoconf automake pkg-config
      libevent-dev libssl-dev libconfig-dev libcmocka-dev libnghttp2-dev libjansson-dev
      etcd-server etcd-client
      curl openssl python3 procps nghttp2-client python3-h2 python3-grpcio
      chromium fonts-liberation tidy
      mandoc logrotate libsystemd-dev systemd man-db prometheus)

install_deps() {
	local missing=()
	for p in "${DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "quickstart: missing packages: ${missing[*]} (run as root or install them)" >&2
			exit 1
		fi
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# Recommends would pull in services (prometheus-node-exporter ...).
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# build DIR [configure flags...]: out-of-tree build in DIR.
build() {
	local dir=$1; shift
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1 || autoreconf -fi)
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" --quiet "$@" && make -s -j"$(nproc)")
}

run_tests() {
	local dir=$1; shift
	if ! (cd "$dir" && make -s -j"$(nproc)" check "$@"); then
		# Show what failed, so a CI log is enough to debug it.
		find "$dir/tests" -name '*.log' ! -name 'test-suite.log' -print0 |
			xargs -0 grep -l -E '^(FAIL|ERROR)' 2>/dev/null | while read -r f; do
				echo "==== $f"; tail -n 60 "$f"; done
		cat "$dir/test-suite.log" 2>/dev/null | tail -n 100
		return 1
	fi
}

case "${1:-}" in
test)
	install_deps
	build "$top/build" --enable-debug
	run_tests "$top/build"
	# The release tarball must build and test out of tree too. The whole
	# suite has just run; here the unit tests and the integration scripts
	# that need the Python helpers (so a file missing from the tarball shows).
	dist_tests="$(cd "$top" && for f in tests/unit/test_*.c; do printf '%s ' "${f%.c}"; done)"
	dist_tests+="tests/fuzz/replay tests/integration/proxy.sh tests/integration/framing.sh"
	dist_tests+=" tests/integration/admin_limits.sh tests/integration/regressions.sh"
	(cd "$top/build" && make -s distcheck TESTS="$dist_tests" >"$top/build/distcheck.log" 2>&1) ||
		{ tail -n 80 "$top/build/distcheck.log"; exit 1; }
	echo "quickstart: make distcheck passed"
	build "$top/build-san" --enable-sanitizers
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		run_tests "$top/build-san"
	# One closing line a CI reader can count: "tests: N passed, M failed".
	passed=0; failed=0
	for d in build build-san; do
		p=$(sed -n 's/^# PASS: *//p' "$top/$d/test-suite.log" | head -1)
		f=$(sed -n 's/^# FAIL: *//p' "$top/$d/test-suite.log" | head -1)
		passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
	done
	echo "quickstart: all tests passed (plain and ASan+UBSan builds)"
	echo "tests: $passed passed, $failed failed"
	;;
demo)
	install_deps
	build "$top/build"
	exec "$top/contrib/demo.sh" "$top/build"
	;;
*)
	echo "usage: $0 demo|test" >&2
	exit 1
	;;
esac
