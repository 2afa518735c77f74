#!/usr/bin/env bash
# Bring this machine to what cloudcpe needs: Debian packages + the project venv.
#
# Idempotent and fast when everything is present (no apt, no pip): `make demo` and
# `make test` run it every time.
#   1. apt-get installs only what is missing among the packages below (needs root).
#   2. .venv is created with `python3 -m venv` if absent (or broken).
#   3. `pip install -e '.[dev]'` runs when pyproject.toml is newer than .venv/.installed.
# Output is quiet; the log of a failing step is printed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: root is required: cloudcpe builds its lab with kernel network namespaces," >&2
    echo "          veth links and nftables, and installs Debian packages. Run as root (sudo)." >&2
    exit 1
fi

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.installed"
LOG=$(mktemp /tmp/cloudcpe-setup.XXXXXX.log)
trap 'rm -f "$LOG"' EXIT

# Run a command with its output in $LOG; on failure print the log and stop.
quiet() {
    if ! "$@" >"$LOG" 2>&1; then
        echo "setup.sh: failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

# --- 1. Debian packages -------------------------------------------------------------
# iproute2 (ip netns, veth), nftables + libnftables1 (firewall/NAT functions, JSON API),
# postgresql (scripts/postgres.sh for the PostgreSQL test run), procps (pgrep/ps), curl,
# chromium (the portal's browser tests drive Debian's Chromium through Playwright; Playwright's
# own browser download is never used), wireguard-go (the encrypted tunnel between a cloud
# site's thin CPE and its POP; configured through its UAPI socket, so wireguard-tools is not
# needed).
PACKAGES=(iproute2 nftables libnftables1 ethtool postgresql procps curl chromium wireguard-go)

venv_works() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
# python3-venv only when we are going to create a venv and python3 cannot (Debian's own
# python3 keeps ensurepip in python3-venv; a pyenv/upstream python3 has it built in).
if ! venv_works && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    quiet apt-get update -q
    quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- 2. the venv ------------------------------------------------------------------
if ! venv_works; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "setup.sh: $PYTHON is $("$PYTHON" --version 2>&1); cloudcpe needs Python >= 3.11" >&2
        exit 1
    fi
    echo "setup.sh: creating $VENV with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    quiet "$PYTHON" -m venv "$VENV"
fi

# --- 3. the project and its dev tools -------------------------------------------
if [ pyproject.toml -nt "$STAMP" ] || [ ! -x "$VENV/bin/cloudcpe" ]; then
    echo "setup.sh: pip install -e '.[dev]'"
    quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
    touch "$STAMP"
fi
