#!/usr/bin/env bash
# The four Airflow components `airflow standalone` starts (scheduler, dag-processor, triggerer, api-server),
# without standalone's own supervising process and without the two log servers: everything runs on one
# machine, so the api-server reads task logs straight from $AIRFLOW_HOME/logs. That is ~430 MB less RSS
# on the VPS (issue 5). Runs in the foreground, one log file per component in $AIRFLOW_HOME (or
# $AIRFLOW_STACK_LOGS). `make run` starts it in a session of its own (setsid); `make stop` ends that session.
#
# Needs: AIRFLOW_HOME and the other AIRFLOW__* settings exported (scripts/airflow-env.sh), the metadata
# database migrated (`airflow db migrate`).
set -uo pipefail
BIN=${BITSNIPER_BIN:-"$(cd "$(dirname "$0")/.." && pwd)/.venv/bin"}
LOGS=${AIRFLOW_STACK_LOGS:-$AIRFLOW_HOME}
mkdir -p "$LOGS"
export PATH="$BIN:$PATH"

# Each component runs in its own loop: one that dies (an out-of-memory kill, a crash) is started again
# after RESTART_DELAY seconds, so trading goes on; stack.log records every restart. TERM to all of them
# (`make stop`), or to this script alone, ends the loops and the components together.
RESTART_DELAY=${AIRFLOW_STACK_RESTART_DELAY:-10}
supervise() {
  local name=$1
  shift
  trap 'exit 0' TERM INT
  while true; do
    echo "$(date -u +%FT%TZ) starting $name, log: $LOGS/$name.log"
    "$BIN/airflow" "$@" >>"$LOGS/$name.log" 2>&1
    local code=$?
    echo "$(date -u +%FT%TZ) $name exited (code $code): restarting in $RESTART_DELAY s" >&2
    sleep "$RESTART_DELAY"
  done
}

supervise scheduler scheduler --skip-serve-logs &
supervise dag-processor dag-processor &
supervise triggerer triggerer --skip-serve-logs &
supervise api-server api-server &
trap "trap '' TERM INT; kill -TERM 0 2>/dev/null; wait; exit 0" TERM INT
wait
