#!/usr/bin/env bash
# The main job: the whole pipeline on the embedded stack with sample data, API on :8000.
#   ./run.sh               run until Ctrl-C
#   ./run.sh --seconds 60  bounded run that prints a summary of every stage
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
scripts/bootstrap.sh
exec .venv/bin/turnpoint run "$@"
