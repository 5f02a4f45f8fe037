#!/usr/bin/env bash
# Install what `make demo` and `make test` need on a fresh Debian machine with Python 3.11:
# a .venv from requirements.txt, and Debian's redis-server when none is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
apt_updated=""

apt_install() {
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v redis-server >/dev/null 2>&1; then
  echo "bootstrap: installing redis-server (Debian package)"
  apt_install redis-server
fi

stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c "import ensurepip" 2>/dev/null; then
    echo "bootstrap: installing python3-venv (Debian package)"
    apt_install python3-venv
  fi
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  echo "bootstrap: installing requirements.txt into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v WARNING || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import flask, msal, dramatiq, redis, marshmallow, tenacity, pytest"
  echo "$wanted" > "$stamp"
fi
