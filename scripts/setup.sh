#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine. `scripts/setup.sh` installs what the main
# job needs (a venv with gemscope); `scripts/setup.sh --test` adds everything the whole test
# suite needs (BCC from the distribution, tmux, trace-cmd, and the kernel-test rig's pieces).
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"

apt_install() {  # install the named Debian packages that are not installed yet
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: apt-get install ${missing[*]}" >&2
  if [ ! -f /tmp/.gemscope-apt-updated ]; then
    $SUDO apt-get update -qq && touch /tmp/.gemscope-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

apt_install python3 python3-venv python3-pip
if [ $want_test -eq 1 ]; then
  apt_install python3-bpfcc bpfcc-tools tmux trace-cmd
fi

# The venv sees the distribution's site-packages so that `import bcc` (python3-bpfcc) works.
PY=/usr/bin/python3
stamp=.venv/.gemscope-installed
hash=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat $stamp 2>/dev/null)" != "$hash" ]; then
  [ -x .venv/bin/python ] || $PY -m venv --system-site-packages .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' >&2
  echo "$hash" > $stamp
fi

if [ $want_test -eq 1 ] && [ -x tests/kernel/rig/setup.sh ]; then
  tests/kernel/rig/setup.sh
fi
