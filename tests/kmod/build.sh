#!/usr/bin/env bash
# Build the test module for one extracted Debian kernel; prints the path of the built msm.ko.
#   tests/kmod/build.sh 6.1.0-56-amd64
# Sources are copied into tests/kernel/rig/work/kmod-<ver>/ and built there, so no build product
# ever lands in tests/kmod/. Needs tests/kernel/rig/setup.sh to have run.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VER="${1:?usage: $0 <kernel-abi, e.g. 6.1.0-56-amd64>}"
WORK="$HERE/../kernel/rig/work"
KDIR="$WORK/kernels/$VER/lib/modules/$VER/build"
[ -f "$KDIR/Makefile" ] || { echo "build.sh: no headers at $KDIR; run tests/kernel/rig/setup.sh" >&2; exit 1; }
OUT="$WORK/kmod-$VER"
mkdir -p "$OUT"
# rebuild only when a source changed
if [ ! -f "$OUT/msm.ko" ] || [ -n "$(find "$HERE" -newer "$OUT/msm.ko" -type f \( -name '*.[ch]' -o -name Kbuild \))" ]; then
  cp "$HERE"/*.c "$HERE"/*.h "$HERE"/Kbuild "$OUT"/
  # no BTF for the module: pahole is not needed and the guest tier does not use module BTF
  make -s -C "$KDIR" M="$OUT" CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2
fi
echo "$OUT/msm.ko"
