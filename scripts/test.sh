#!/usr/bin/env bash
# Set up, then lint (ruff), type-check (mypy --strict on src), check the import rules (lint-imports,
# .importlinter) and run the default test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m slow` for the long suites.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests scripts
.venv/bin/mypy
PYTHONPATH=src .venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
