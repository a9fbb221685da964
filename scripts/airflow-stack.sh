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
    "$BIN/airflow" "$@" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$LOGS/$name.pid"
    wait $!
    local code=$?
    echo "$(date -u +%FT%TZ) $name exited (code $code): restarting in $RESTART_DELAY s" >&2
    sleep "$RESTART_DELAY"
  done
}

# Liveness: a component can hang with its process alive (seen in CI: a scheduler that logged and scheduled
# nothing for 7 minutes). Every WATCHDOG_SECS the API server's health endpoint is read
# (bitsniper.airflow.health); a component found unhealthy WATCHDOG_STRIKES times in a row is dumped
# (SIGQUIT: Airflow prints every thread's stack to its log) and killed, and its loop starts it again.
# No verdict while the API server does not answer or the metadata database is down, nor in the first
# WATCHDOG_GRACE seconds of a component. AIRFLOW_STACK_WATCHDOG_SECS=0 turns it off.
WATCHDOG_SECS=${AIRFLOW_STACK_WATCHDOG_SECS:-30}
WATCHDOG_STRIKES=${AIRFLOW_STACK_WATCHDOG_STRIKES:-3}
WATCHDOG_GRACE=${AIRFLOW_STACK_WATCHDOG_GRACE:-120}
HEALTH_URL=${AIRFLOW_STACK_HEALTH_URL:-http://127.0.0.1:${AIRFLOW__API__PORT:-8080}/api/v2/monitor/health}
descendants() {  # from /proc: no procps on slim images
  local child
  for child in $(grep -l "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3); do
    echo "$child"
    descendants "$child"
  done
}
watchdog() {
  trap 'exit 0' TERM INT
  declare -A strikes=()
  while true; do
    sleep "$WATCHDOG_SECS" &
    wait $!
    local verdict
    verdict=$("$BIN/python" -m bitsniper.airflow.health "$HEALTH_URL" 2>/dev/null) || continue
    local name
    for name in scheduler triggerer dag-processor; do
      if [[ " $verdict " != *" $name "* ]]; then
        strikes[$name]=0
        continue
      fi
      # Not while it is being restarted, nor in its first WATCHDOG_GRACE seconds (no heartbeat yet).
      local pid
      pid=$(cat "$LOGS/$name.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null || continue
      (( $(date +%s) - $(stat -c %Y "$LOGS/$name.pid") < WATCHDOG_GRACE )) && continue
      strikes[$name]=$(( ${strikes[$name]:-0} + 1 ))
      echo "$(date -u +%FT%TZ) $name unhealthy (no recent heartbeat): check ${strikes[$name]} of $WATCHDOG_STRIKES" >&2
      if (( strikes[$name] >= WATCHDOG_STRIKES )); then
        echo "$(date -u +%FT%TZ) $name unhealthy for $WATCHDOG_STRIKES checks: stack dump in $LOGS/$name.log, killing $pid" >&2
        kill -QUIT "$pid" 2>/dev/null
        sleep 2
        # The whole tree: the scheduler's executor workers and the task processes under them would
        # otherwise outlive it (a task cut short is retried; execute_orders looks its order up first).
        kill -KILL $(descendants "$pid") "$pid" 2>/dev/null
        strikes[$name]=0
      fi
    done
  done
}

supervise scheduler scheduler --skip-serve-logs &
supervise dag-processor dag-processor &
supervise triggerer triggerer --skip-serve-logs &
supervise api-server api-server &
[ "$WATCHDOG_SECS" != 0 ] && watchdog &
trap "trap '' TERM INT; kill -TERM 0 2>/dev/null; wait; exit 0" TERM INT
wait
