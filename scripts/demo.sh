#!/usr/bin/env bash
# Set up, start the bundled Salesforce emulator, back it up into ./demo-backup, verify it
# against the emulated org and print where the report is. No Salesforce account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/sfbackup demo --repo ./demo-backup "$@"
