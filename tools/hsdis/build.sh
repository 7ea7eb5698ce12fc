#!/bin/sh
# Builds hsdis-amd64.so (hsdis-capstone.c) into ${1:-~/.cache/jxen/hsdis}; needs gcc and Debian's libcapstone-dev
# (installed here if missing, as root). Then: java -XX:+UnlockDiagnosticVMOptions -XX:+PrintAssembly with
# LD_LIBRARY_PATH=that directory (docs/benchmarks.md).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$HOME/.cache/jxen/hsdis}"
if [ ! -f /usr/include/capstone/capstone.h ]; then
  [ "$(id -u)" = 0 ] || { echo "hsdis: needs libcapstone-dev (apt-get install libcapstone-dev)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcapstone-dev >/dev/null
fi
mkdir -p "$out"
gcc -O2 -shared -fPIC -fvisibility=hidden -Wall -Werror -o "$out/hsdis-amd64.so" "$here/hsdis-capstone.c" -lcapstone
echo "hsdis: $out/hsdis-amd64.so"
