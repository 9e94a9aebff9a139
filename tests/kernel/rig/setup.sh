#!/usr/bin/env bash
# Idempotent, cached installer for the QEMU guest tier and the symbol tier.
#
# Everything downloaded or built lands in tests/kernel/rig/work/ (gitignored). Re-running is cheap:
# each step checks for its product first. What it provides:
#   - apt: qemu-system-x86 kmod udev busybox-static (guest), binutils-aarch64-linux-gnu (symbol tier)
#   - work/vng-venv: virtme-ng from PyPI (vng calls virtme-run, so the runner puts this bin on PATH)
#   - work/kernels/<ver>/: Debian amd64 kernel image + modules + headers, extracted with dpkg-deb,
#     depmod'ed, with lib/modules/<ver>/build and source links so BCC in the guest needs no env var
#     and the test module builds with `make -C .../build`.
#   - work/arm64/<ver>/: only msm.ko and drm.ko of the Debian arm64 kernel (for aarch64-linux-gnu-nm)
#   - work/kernels.json: the resolved versions {"6.1": "6.1.0-NN-amd64", "6.12": "...", arm64: {...}}
# A private apt configuration (work/apt/) adds bookworm-backports and arm64 without touching the
# machine's own sources or lists.
set -euo pipefail
RIG="$(cd "$(dirname "$0")" && pwd)"
WORK="$RIG/work"
mkdir -p "$WORK"
cd "$WORK"

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
log() { echo "rig-setup: $*" >&2; }

apt_install() {  # host packages, installed only when missing
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ ! -f /tmp/.gemscope-apt-updated ]; then $SUDO apt-get update -qq && touch /tmp/.gemscope-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
apt_install qemu-system-x86 kmod udev busybox-static binutils-aarch64-linux-gnu make gcc libc6-dev \
  xz-utils zstd libelf-dev python3-venv

# --- virtme-ng in its own venv ------------------------------------------------------------------
if [ ! -x vng-venv/bin/vng ]; then
  log "installing virtme-ng from PyPI"
  rm -rf vng-venv
  /usr/bin/python3 -m venv vng-venv
  vng-venv/bin/pip install -q --disable-pip-version-check virtme-ng >&2
fi

# --- private apt configuration: bookworm + backports, amd64 + arm64 ----------------------------
APTD="$WORK/apt-rig"  # not work/apt: headers.sh owns that one
mkdir -p "$APTD/lists/partial" "$APTD/cache/archives/partial" "$APTD/etc/preferences.d"
cat > "$APTD/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64,arm64] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64,arm64] http://deb.debian.org/debian bookworm-updates main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64,arm64] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64,arm64] http://deb.debian.org/debian bookworm-backports main
SRC
PAPT=(-o Dir::Etc::SourceList="$APTD/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$APTD/etc/preferences.d"
      -o Dir::State::Lists="$APTD/lists" -o Dir::Cache="$APTD/cache"
      -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1)
papt_get() { apt-get "${PAPT[@]}" "$@"; }
papt_cache() { apt-cache "${PAPT[@]}" "$@"; }

# Refresh the private lists at most once a day (they decide which kernel versions exist).
if [ ! -f "$APTD/updated" ] || [ -n "$(find "$APTD/updated" -mmin +1440)" ]; then
  log "apt-get update (private lists)"
  papt_get update -qq >&2
  touch "$APTD/updated"
fi

dep_of() {  # dep_of <package[/suite]> <regex>: the first dependency of a meta package matching regex
  papt_cache depends "$1" 2>/dev/null | sed -n 's/^ *Depends: //p' | grep -E "$2" | head -1
}
deb_has() {  # deb_has <deb> <regex>: does the package contain a matching path? (no grep -q: with
  # pipefail, grep -q closing the pipe early makes dpkg-deb fail with SIGPIPE)
  dpkg-deb -c "$1" | grep -E "$2" > /dev/null
}
fetch_deb() {  # fetch_deb <pkg>[:arch]: download into work/debs once, print the .deb path
  mkdir -p "$WORK/debs"
  local name="${1%%:*}" f
  f=$(ls "$WORK/debs/${name}_"*.deb 2>/dev/null | grep -E "_(amd64|arm64|all)\.deb$" | head -1 || true)
  if [ -z "$f" ]; then
    (cd "$WORK/debs" && papt_get -o APT::Sandbox::User=root download -qq "$1" >&2)
    f=$(ls "$WORK/debs/${name}_"*.deb | head -1)
  fi
  echo "$f"
}

# Resolve the kernel ABI names (linux-image-6.1.0-NN-amd64; 6.12.NN+bpo-amd64 from backports).
if [ ! -f versions.env ] || [ -n "$(find versions.env -mmin +1440)" ]; then
  img61=$(dep_of linux-image-amd64 '^linux-image-6\.1\.')
  img612=$(papt_cache depends -t bookworm-backports linux-image-amd64/bookworm-backports 2>/dev/null \
           | sed -n 's/^ *Depends: //p' | grep -E '^linux-image-6\.12\.' | head -1)
  [ -n "$img61" ] && [ -n "$img612" ] || { log "cannot resolve kernel packages ($img61 / $img612)"; exit 1; }
  { echo "K61=${img61#linux-image-}"; echo "K612=${img612#linux-image-}"; } > versions.env
fi
# shellcheck disable=SC1091
. ./versions.env
log "kernels: $K61 $K612"

extract_kernel() {  # extract_kernel <abi e.g. 6.1.0-56-amd64>: image, modules, headers, kbuild in kernels/<abi>
  local abi="$1" dst="$WORK/kernels/$1"
  [ -f "$dst/.done" ] && return 0
  rm -rf "$dst"; mkdir -p "$dst"
  local common kbuild img
  img=$(fetch_deb "linux-image-$abi")
  # The signed image package only depends on the unsigned one in some releases: follow it.
  if ! deb_has "$img" "boot/vmlinuz"; then img=$(fetch_deb "linux-image-$abi-unsigned"); fi
  common=$(dep_of "linux-headers-$abi" '^linux-headers-.*-common')
  kbuild=$(dep_of "linux-headers-$abi" '^linux-kbuild-')
  log "extracting $abi ($common, $kbuild)"
  dpkg-deb -x "$img" "$dst"
  for p in "linux-headers-$abi" "$common" "$kbuild"; do dpkg-deb -x "$(fetch_deb "$p")" "$dst"; done
  local hdr="$dst/usr/src/linux-headers-$abi" com="$dst/usr/src/$common"
  # The headers Makefile includes the -common tree by its absolute /usr/src path: point it here.
  sed -i "s|^include /usr/src/|include $dst/usr/src/|" "$hdr/Makefile"
  # scripts and tools come from the kbuild package (absolute symlinks into /usr/lib/linux-kbuild-*).
  for l in scripts tools; do
    if [ -L "$hdr/$l" ]; then t=$(readlink "$hdr/$l"); case "$t" in /*) ln -sfn "$dst$t" "$hdr/$l";; esac; fi
  done
  # lib/modules/<abi>/{build,source}: BCC in the guest finds headers here without any env var.
  # Absolute host paths are fine: the guest sees the host's root fs over 9p.
  ln -sfn "$hdr" "$dst/lib/modules/$abi/build"
  ln -sfn "$com" "$dst/lib/modules/$abi/source"
  depmod -b "$dst" "$abi"
  touch "$dst/.done"
}
extract_kernel "$K61"
extract_kernel "$K612"

# --- arm64 msm.ko / drm.ko for the symbol tier -------------------------------------------------
extract_arm64() {  # extract_arm64 <series 6.1|6.12> <abi-without-arch>
  local series="$1" base="$2" dst="$WORK/arm64/$1"
  [ -f "$dst/.done" ] && [ -f "$dst/Module.symvers" ] && return 0
  rm -rf "$dst"; mkdir -p "$dst"
  local img
  img=$(fetch_deb "linux-image-$base-arm64:arm64")
  if ! deb_has "$img" "/msm/msm.ko"; then img=$(fetch_deb "linux-image-$base-arm64-unsigned:arm64"); fi
  log "extracting arm64 msm.ko/drm.ko of $base"
  dpkg-deb --fsys-tarfile "$img" | tar -x -C "$dst" --wildcards '*/drm/msm/msm.ko*' '*/drm/drm.ko*'
  find "$dst" -name '*.ko.xz' -exec xz -d -f {} \;
  find "$dst" -name '*.ko.zst' -exec zstd -q -d --rm -f {} \;
  for m in msm drm; do cp "$(find "$dst" -name "$m.ko" | head -1)" "$dst/$m.ko"; done
  # Debian's System.map is a stub: the vmlinux symbols the plan needs are all exported, so the
  # arm64 headers' Module.symvers (symbol, module) answers for them.
  dpkg-deb --fsys-tarfile "$(fetch_deb "linux-headers-$base-arm64:arm64")" | tar -x -C "$dst" --wildcards '*/Module.symvers'
  cp "$(find "$dst/usr" -name Module.symvers | head -1)" "$dst/Module.symvers"
  rm -rf "$dst/lib" "$dst/boot" "$dst/usr"
  echo "$base-arm64" > "$dst/version"
  touch "$dst/.done"
}
extract_arm64 6.1 "${K61%-amd64}"
extract_arm64 6.12 "${K612%-amd64}"

cat > kernels.json <<JSON
{"6.1": "$K61", "6.12": "$K612",
 "arm64": {"6.1": "$(cat arm64/6.1/version)", "6.12": "$(cat arm64/6.12/version)"}}
JSON
log "ready: $WORK/kernels.json"
