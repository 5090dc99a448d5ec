#!/usr/bin/env bash
# Install everything turnpoint needs into ./.venv (idempotent, quiet when up to date).
# Needs only python3 >= 3.11; uv is installed into ./.tools on first use.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

py="${TURNPOINT_PYTHON:-python3}"
"$py" - <<'PY' || { echo "turnpoint needs Python 3.11 or newer (set TURNPOINT_PYTHON to one)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

uv="$root/.tools/bin/uv"
if [ ! -x "$uv" ]; then
  echo "bootstrap: installing uv into .tools/" >&2
  "$py" -m venv "$root/.tools"
  "$root/.tools/bin/python" -m pip install --quiet "uv>=0.4"
fi

export UV_PYTHON_DOWNLOADS=never
export UV_PROJECT_ENVIRONMENT="$root/.venv"
"$uv" sync --all-packages --locked --python "$py" --quiet
