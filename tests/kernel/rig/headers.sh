#!/usr/bin/env bash
# Debian amd64 kernel headers, assembled into ONE tree that BCC accepts as BCC_KERNEL_SOURCE.
#
# Usage:
#   tests/kernel/rig/headers.sh VERSION_PKG     e.g. 6.1.0-56-amd64, 6.12.117+deb12-amd64,
#                                               6.12.43+bpo-amd64
#   tests/kernel/rig/headers.sh 6.1|6.12        the newest such version apt knows about
#   export BCC_KERNEL_SOURCE=$(tests/kernel/rig/headers.sh 6.1)
#
# stdout: exactly one line, the assembled tree (tests/kernel/rig/work/headers-<ver>/tree).
# Everything else goes to stderr. Idempotent and cached: the .debs stay in
# work/headers-<ver>/debs and a finished tree is marked with .gemscope-complete, so a second run
# does no network access and prints the path at once.
#
# What it does (the recipe of ../shared/docs/test-rig.md):
#   1. apt-get download linux-headers-<ver>, linux-headers-<base>-common and the matching
#      linux-kbuild package (linux-kbuild-6.1 for 6.1.0-N; linux-kbuild-<base> for 6.12.X+deb12 /
#      +bpo). Packages the machine's own apt lists do not know (bookworm-backports) are fetched
#      through a PRIVATE apt configuration in work/apt (its own sources list, lists and cache), so
#      the machine's /etc/apt and /var/lib/apt/lists stay untouched.
#   2. dpkg-deb -x all three into work/headers-<ver>/extract/ (kept: the guest tier uses the
#      extracted usr/src/linux-headers-* trees for lib/modules/<ver>/build and source links, and
#      usr/lib/linux-kbuild-* for module builds).
#   3. copy the -common tree, then the -amd64 tree over it, into work/headers-<ver>/tree and point
#      tree/scripts and tree/tools at the kbuild package's copies.
# Needs: apt-get, dpkg-deb (Debian/Ubuntu). Run as root or a user that may write here.
set -euo pipefail

die() { echo "headers.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 VERSION_PKG (e.g. 6.1.0-56-amd64) or 6.1 / 6.12"
RIG=$(cd "$(dirname "$0")" && pwd)
WORK="$RIG/work"
mkdir -p "$WORK"

APT_PRIVATE=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=$WORK/apt/none"
             -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
             -o "Dir::State::Status=/var/lib/dpkg/status" -o "Debug::NoLocking=1")

private_apt_update() {  # bookworm-backports in a private apt configuration, updated once a day
  mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/apt/none"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" \
    > "$WORK/apt/sources.list"
  if [ -z "$(find "$WORK/apt/lists" -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    echo "headers.sh: apt-get update (private: bookworm-backports)" >&2
    apt-get "${APT_PRIVATE[@]}" update -qq >&2 || die "apt-get update of bookworm-backports failed"
  fi
}

known() {  # known PKG [private]: does apt (machine lists, or the private ones) know PKG?
  if [ "${2:-}" = private ]; then
    apt-cache "${APT_PRIVATE[@]}" show "$1" >/dev/null 2>&1
  else
    apt-cache show "$1" >/dev/null 2>&1
  fi
}

newest() {  # newest VERSION_PKG for a series (6.1 -> 6.1.0-N-amd64; 6.12 -> 6.12.X+deb12-amd64)
  local series=$1 pat
  case "$series" in
    6.1) pat='^linux-headers-6\.1\.0-[0-9]+-amd64$' ;;
    *)   pat="^linux-headers-${series//./\\.}\\.[0-9]+\\+(deb12|bpo)-amd64\$" ;;
  esac
  local found
  found=$(apt-cache search --names-only "$pat" | cut -d' ' -f1 | sort -V | tail -1)
  if [ -z "$found" ]; then
    private_apt_update
    found=$(apt-cache "${APT_PRIVATE[@]}" search --names-only "$pat" | cut -d' ' -f1 | sort -V | tail -1)
  fi
  [ -n "$found" ] || die "no linux-headers for $series in apt; run: apt-get update"
  echo "${found#linux-headers-}"
}

# A fresh machine (CI container) may have no apt lists at all: fetch the machine's own once.
if [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -i packages | head -1)" ]; then
  echo "headers.sh: apt-get update (the machine has no package lists yet)" >&2
  apt-get update -qq >&2 || die "apt-get update failed"
fi

VER=$1
case "$VER" in
  6.1|6.12) VER=$(newest "$VER") ;;
esac
[[ "$VER" == *-amd64 ]] || die "VERSION_PKG must end in -amd64 (got $VER)"
BASE=${VER%-amd64}                      # 6.1.0-56 / 6.12.117+deb12
OUT="$WORK/headers-$VER"
TREE="$OUT/tree"
if [ -f "$TREE/.gemscope-complete" ]; then
  echo "$TREE"
  exit 0
fi

HDR="linux-headers-$VER"
COMMON="linux-headers-$BASE-common"
MAJMIN=$(echo "$BASE" | cut -d. -f1-2)
MODE=system
if ! known "$HDR"; then
  private_apt_update
  known "$HDR" private || die "apt knows no $HDR (looked in the machine's lists and bookworm-backports); run: apt-get update"
  MODE=private
fi
apt_known() { if [ $MODE = private ]; then known "$1" private; else known "$1"; fi; }
if apt_known "linux-kbuild-$BASE"; then KBUILD="linux-kbuild-$BASE"; else KBUILD="linux-kbuild-$MAJMIN"; fi
apt_known "$KBUILD" || die "apt knows no kbuild package for $VER (tried linux-kbuild-$BASE, linux-kbuild-$MAJMIN)"

mkdir -p "$OUT/debs"
for pkg in "$HDR" "$COMMON" "$KBUILD"; do
  if ! ls "$OUT/debs/${pkg}_"*.deb >/dev/null 2>&1; then
    echo "headers.sh: apt-get download $pkg" >&2
    if [ $MODE = private ]; then
      (cd "$OUT/debs" && apt-get "${APT_PRIVATE[@]}" -o APT::Sandbox::User=root download -qq "$pkg" >&2) || die "download of $pkg failed"
    else
      (cd "$OUT/debs" && apt-get -o APT::Sandbox::User=root download -qq "$pkg" >&2) || die "download of $pkg failed"
    fi
  fi
done

rm -rf "$OUT/extract" "$TREE"
mkdir -p "$OUT/extract"
for deb in "$OUT/debs"/*.deb; do dpkg-deb -x "$deb" "$OUT/extract"; done
SRC="$OUT/extract/usr/src"
[ -d "$SRC/linux-headers-$BASE-common" ] || die "$COMMON did not contain usr/src/linux-headers-$BASE-common"
[ -d "$SRC/linux-headers-$VER" ] || die "$HDR did not contain usr/src/linux-headers-$VER"
KDIR=$(ls -d "$OUT/extract/usr/lib/linux-kbuild-"* | head -1)
[ -d "$KDIR/scripts" ] || die "$KBUILD did not contain usr/lib/linux-kbuild-*/scripts"

mkdir -p "$TREE"
cp -a "$SRC/linux-headers-$BASE-common/." "$TREE/"
cp -a "$SRC/linux-headers-$VER/." "$TREE/"
for d in scripts tools; do
  rm -rf "${TREE:?}/$d"
  [ -e "$KDIR/$d" ] && ln -s "$KDIR/$d" "$TREE/$d"
done
[ -f "$TREE/include/generated/autoconf.h" ] || die "assembled tree lacks include/generated/autoconf.h"
echo "$VER" > "$TREE/.gemscope-complete"
echo "$TREE"
