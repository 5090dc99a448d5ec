#!/usr/bin/env bash
# The test suite: unit, integration (real broker, real PostgreSQL) and end-to-end tests.
# Installs what it needs: the Python environment, and (as root, best effort) psqlODBC and socat.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
scripts/bootstrap.sh
scripts/system-deps.sh
exec .venv/bin/pytest "$@"
