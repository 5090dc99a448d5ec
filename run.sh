#!/usr/bin/env bash
# The main job: the whole pipeline on the embedded stack with sample data, API on :8000
# (or on TURNPOINT_API__PORT: TURNPOINT_API__PORT=8080 ./run.sh).
#   ./run.sh               run until Ctrl-C
#   ./run.sh --seconds 60  bounded run that prints a summary of every stage
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
scripts/bootstrap.sh
exec .venv/bin/turnpoint run "$@"
