#!/usr/bin/env bash
# `make stop`: stop everything `make run` started: its session (setsid), including task processes, which
# Airflow moves into process groups of their own.
set -uo pipefail
cd "$(dirname "$0")/.."
PGID_FILE=.airflow/run.pgid
if [ ! -f "$PGID_FILE" ]; then echo "BitSniper is not running (no $PGID_FILE)."; exit 0; fi
PGID=$(cat "$PGID_FILE")
kill -TERM -- "-$PGID" 2>/dev/null || true
# Task and DAG-parsing processes sit in process groups of their own, inside the session setsid made.
pkill -TERM -s "$PGID" 2>/dev/null || true
for _ in $(seq 1 20); do pgrep -s "$PGID" >/dev/null || break; sleep 1; done
pkill -KILL -s "$PGID" 2>/dev/null || true
rm -f "$PGID_FILE"
echo "BitSniper stopped."
