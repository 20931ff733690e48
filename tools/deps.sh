#!/bin/sh
# deps.sh — install the Debian packages denet needs, when they are missing.
# Used by the README, the Makefile (`make demo`, `make test`, `make deps`)
# and .ci/run.
#
#   tools/deps.sh build          what building denet and `make demo` need
#   tools/deps.sh test           + what `make test` needs (busted, python3,
#                                  headless Chromium and a font for the report specs)
#   tools/deps.sh bench          build + the benchmarks' peers (python3-psutil,
#                                  bpftrace): what `make bench` needs
#   tools/deps.sh all            test + bench + valgrind, clang-format, luacheck
#                                  (lua-check), the libFuzzer runtime
#                                  (make valgrind/format-check/lua-check/fuzz)
#   tools/deps.sh --check GROUP  install nothing: list what is missing, exit 1 if any
set -eu
BUILD_PKGS="build-essential pkg-config libbpf-dev libelf-dev libdw-dev liblua5.4-dev lua5.4 bpftool clang"
TEST_PKGS="lua-busted python3 chromium fonts-dejavu-core strace"
BENCH_PKGS="python3-psutil bpftrace"
ALL_PKGS="valgrind clang-format lua-check libclang-rt-14-dev"

check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
case "${1:-all}" in
build) PKGS="$BUILD_PKGS" ;;
test) PKGS="$BUILD_PKGS $TEST_PKGS" ;;
bench) PKGS="$BUILD_PKGS $BENCH_PKGS" ;;
all) PKGS="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS $ALL_PKGS" ;;
*)
	echo "deps.sh: unknown group '$1' (build, test, bench or all)" >&2
	exit 2
	;;
esac

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$check" = 1 ]; then
	echo "denet: missing Debian packages:$missing" >&2
	echo "denet: run 'make deps' as root (or 'make demo' / 'make test', which install first)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "denet: missing Debian packages:$missing" >&2
	echo "denet: run as root:  sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
