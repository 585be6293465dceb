#!/usr/bin/env bash
# Builds libicount.so, a QEMU 7.2 TCG plugin that counts guest instructions (deterministic),
# for comparing code paths of aarch64/armv7 builds under emulation (QEMU timings are not
# hardware timings; instruction counts repeat exactly run to run).
# Needs gcc and the dynamic qemu-user package (qemu-user-static has no plugin support):
#   apt-get install -y --no-install-recommends qemu-user gcc
# Use:
#   qemu-aarch64 -cpu cortex-a72 -d plugin \
#       -plugin "$OUTDIR/libicount.so[,sym=SUBSTR][,out=FILE]" ./binary args
#   prints: icount total=N sym=N range=N aes=N pmull=N
# Prefer static musl binaries and single-threaded paths for stable counts.
# (Copied from the project's shared tools so that bench/ is self-contained.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
gcc -O2 -shared -fPIC -fvisibility=hidden -Wall -o "$out/libicount.so" "$here/icount.c"
echo "$out/libicount.so"
