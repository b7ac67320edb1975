#!/usr/bin/env bash
# Fidelity check with clients nobody here wrote: the Salesforce CLI (`sf data query`,
# `sf data export bulk`) and jsforce, unchanged, against a freshly started emulator; with
# --with-python-peers also airbyte-source-salesforce (check/discover/read) and tap-salesforce
# (REST and BULK = Bulk API 1.0; the tap sleeps 20 s between batch polls, stock behaviour).
# Installs them into $PEERS_DIR (default /tmp/sfbackup-peers), never into the repository.
# Not part of CI. Skips (exit 0) when npm/node are unavailable. Exit 1 when a client fails.
#   scripts/peers_check.sh [--records N] [--with-python-peers]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RECORDS=1200
PYTHON_PEERS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --records) RECORDS=$2; shift 2 ;;
    --with-python-peers) PYTHON_PEERS=1; shift ;;
    *) echo "usage: $0 [--records N] [--with-python-peers]"; exit 2 ;;
  esac
done
PEERS=${PEERS_DIR:-/tmp/sfbackup-peers}
PY=${PYTHON:-$ROOT/.venv/bin/python}

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "peers_check: npm/node not available, skipping"; exit 0
fi
mkdir -p "$PEERS/node"
if [ ! -x "$PEERS/node/node_modules/.bin/sf" ]; then
  echo "peers_check: installing @salesforce/cli 2.146.3 and jsforce 3.10.16 into $PEERS/node"
  # The CLI's undici 8 needs Node >= 22.19; pinning undici 7 keeps it working on Node 20.
  cat > "$PEERS/node/package.json" <<'JSON'
{"name": "sfbackup-peers", "version": "1.0.0", "private": true,
 "dependencies": {"@salesforce/cli": "2.146.3", "jsforce": "3.10.16"},
 "overrides": {"undici": "^7.16.0"}}
JSON
  (cd "$PEERS/node" && npm install -s --no-audit --no-fund) || { echo "peers_check: npm install failed, skipping"; exit 0; }
fi

LOG="$PEERS/emulator.log"
PYTHONPATH="$ROOT/src" "$PY" -m sfbackup emulator --records "$RECORDS" --job-latency 1 \
  --bulk-page-records 1000 >"$PEERS/emulator.json" 2>"$LOG" &
EMU_PID=$!
trap 'kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null' EXIT
for _ in $(seq 1 600); do [ -s "$PEERS/emulator.json" ] && break; sleep 0.1; done
[ -s "$PEERS/emulator.json" ] || { echo "peers_check: the emulator did not start"; cat "$LOG"; exit 1; }
URL=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["instance_url"])' "$PEERS/emulator.json")
TOKEN=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$PEERS/emulator.json")
echo "peers_check: emulator at $URL"

FAILED=0
WORK=$(mktemp -d "$PEERS/sfwork.XXXXXX")
export PATH="$PEERS/node/node_modules/.bin:$PATH" HOME="$WORK" SF_DISABLE_TELEMETRY=true \
  SF_AUTOUPDATE_DISABLE=true SF_DISABLE_AUTOUPDATE=true SF_SKIP_NEW_VERSION_CHECK=true \
  SF_HIDE_RELEASE_NOTES=true SF_USE_GENERIC_UNIX_KEYCHAIN=true SF_DISABLE_LOG_FILE=true
run() {
  local name=$1; shift
  local started=$SECONDS
  if "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    echo "  ok    $name ($((SECONDS - started)) s)"
  else
    echo "  FAIL  $name (rc $?, $((SECONDS - started)) s): see $WORK/$name.out / .err"; tail -5 "$WORK/$name.err"; FAILED=1
  fi
}
cd "$WORK"
run sf-login env SF_ACCESS_TOKEN="$TOKEN" sf org login access-token --instance-url "$URL" --no-prompt --alias emu --json
run sf-data-query sf data query --query "SELECT Id, Name FROM Account" --target-org emu --json
run sf-data-export-bulk sf data export bulk --query "SELECT Id, Name FROM Account" --output-file accounts.csv \
  --result-format csv --wait 2 --target-org emu --json
if [ -f accounts.csv ]; then echo "        accounts.csv: $(($(wc -l <accounts.csv) - 1)) rows"; fi
run jsforce env NODE_PATH="$PEERS/node/node_modules" SF_LOCAL_URL="$URL" SF_ACCESS_TOKEN="$TOKEN" \
  node "$ROOT/scripts/peers_jsforce.js"
cat "$WORK/jsforce.out" 2>/dev/null | sed 's/^/        /'

if [ "$PYTHON_PEERS" = 1 ]; then
  install_venv() {  # dir requirement
    [ -x "$PEERS/$1/bin/python" ] && "$PEERS/$1/bin/python" -c 'import sys' 2>/dev/null && [ -f "$PEERS/$1/.ok" ] && return 0
    echo "peers_check: installing $2 into $PEERS/$1"
    python3 -m venv "$PEERS/$1" && "$PEERS/$1/bin/pip" install -q "$2" && touch "$PEERS/$1/.ok"
  }
  if install_venv venv-airbyte "airbyte-source-salesforce==2.10.3"; then
    run airbyte "$PY" "$ROOT/scripts/peers_python.py" airbyte "$PEERS/emulator.json" "$WORK/airbyte" \
      "$PEERS/venv-airbyte/bin" Account,Contact,Lead
    sed 's/^/        /' "$WORK/airbyte.out"
  else
    echo "  skip  airbyte (install failed)"
  fi
  if install_venv venv-tap "tap-salesforce==2.8.1"; then
    for mode in tap-rest tap-bulk; do
      run "$mode" "$PY" "$ROOT/scripts/peers_python.py" "$mode" "$PEERS/emulator.json" "$WORK/tap" \
        "$PEERS/venv-tap/bin" Account,Contact
      sed 's/^/        /' "$WORK/$mode.out"
    done
  else
    echo "  skip  tap-salesforce (install failed)"
  fi
fi
exit $FAILED
