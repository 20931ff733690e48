#!/bin/sh
# deps.sh — install the Debian packages denet needs, when they are missing.
# Used by the README, `make deps` (and so `make demo`/`make test`) and .ci/run.
set -eu
PKGS="build-essential pkg-config libbpf-dev libelf-dev libdw-dev liblua5.4-dev lua5.4 lua-busted bpftool clang python3 python3-psutil valgrind clang-format chromium fonts-dejavu-core libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
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
