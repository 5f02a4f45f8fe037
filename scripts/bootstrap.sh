#!/usr/bin/env bash
# Install what `make demo` and `make test` need on a fresh Debian machine with Python 3.11:
# a .venv from requirements.txt and requirements-dev.txt (every package pinned with its hashes,
# installed with --require-hashes), and Debian's redis-server when none is on PATH.
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

# The console's browser tests drive Debian's Chromium through its ChromeDriver (selenium).
# BROWSER_TESTS=0 skips the install; the tests then skip, naming why.
if [ "${BROWSER_TESTS:-1}" != 0 ] && { ! command -v chromium >/dev/null 2>&1 \
    || ! command -v chromedriver >/dev/null 2>&1; }; then
  echo "bootstrap: installing chromium and chromium-driver (Debian packages, for browser tests)"
  apt_install chromium chromium-driver || echo "bootstrap: no browser: browser tests will skip" >&2
fi

locks=(requirements.txt requirements-dev.txt)
stamp=.venv/.requirements.sha256
wanted=$(cat "${locks[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c "import ensurepip" 2>/dev/null; then
    echo "bootstrap: installing python3-venv (Debian package)"
    apt_install python3-venv
  fi
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  echo "bootstrap: installing ${locks[*]} into .venv"
  # No pip upgrade: an unpinned download would defeat the hashes, and the pip that venv
  # brings reads these files as they are.
  log=.venv/.pip-install.log
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
      -r requirements.txt -r requirements-dev.txt >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" >&2
    echo "bootstrap: pip install failed (log: $log)" >&2
    exit 1
  fi
  .venv/bin/python -c "import flask, msal, dramatiq, redis, marshmallow, tenacity, pytest, fakeredis, hypothesis, selenium"
  echo "$wanted" > "$stamp"
fi
