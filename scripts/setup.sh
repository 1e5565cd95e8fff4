#!/usr/bin/env bash
# Create .venv and install CityOS into it (with the test tools when called as `setup.sh test`).
# Re-running is cheap: pip only installs when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "CityOS needs Python 3.11 or newer; found $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extras=""
[ "${1:-}" = "test" ] && extras="[test]"
stamp=".venv/.installed${extras:+-test}"
# setup.py and the C sources of the native extensions are built by the install too
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
  || [ -n "$(find src \( -name '*.c' -o -name '*.h' \) -newer "$stamp" -print -quit)" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  if [ -n "$extras" ]; then
    # the interoperability tests' NGSI-LD client; see the note in pyproject.toml
    .venv/bin/python -m pip install --quiet --no-deps ngsildclient==0.5.2
  fi
  touch "$stamp"
fi
