#!/usr/bin/env bash
# A cached virtualenv with the official `openai` Python package, for the Python client tests
# (test/clients). Prints the venv's python on the last line; fails with a clear message when
# Python or venv is missing (scripts/test.sh installs python3-venv from Debian when it can).
set -euo pipefail
OPENAI_PY_VERSION="3.57.0"
PYTHON="${PYTHON:-python3}"
CACHE="${TOKENHUB_CACHE:-$HOME/.cache/tokenhub}/python/openai-$OPENAI_PY_VERSION"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "python-venv.sh: $PYTHON not found: install Python 3.9+ (e.g. apt-get install python3 python3-venv)" >&2
  exit 1
fi
if [ -f "$CACHE/.ready" ] && "$CACHE/bin/python" -c 'import openai' >/dev/null 2>&1; then
  echo "$CACHE/bin/python"
  exit 0
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python-venv.sh: $PYTHON has no venv/ensurepip: install python3-venv (apt-get install python3-venv)" >&2
  exit 1
fi
# One writer at a time; a half-made venv (no .ready) is thrown away and made again.
mkdir -p "$(dirname "$CACHE")"
exec 9>"$CACHE.lock"
flock 9
if [ ! -f "$CACHE/.ready" ]; then
  rm -rf "$CACHE"
  "$PYTHON" -m venv "$CACHE" >&2
  if ! "$CACHE/bin/python" -m pip install --disable-pip-version-check -q "openai==$OPENAI_PY_VERSION" >&2; then
    echo "python-venv.sh: pip could not install openai==$OPENAI_PY_VERSION from PyPI (network? proxy?)" >&2
    rm -rf "$CACHE"
    exit 1
  fi
  touch "$CACHE/.ready"
fi
echo "$CACHE/bin/python"
