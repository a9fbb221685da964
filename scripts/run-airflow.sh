#!/usr/bin/env bash
# `make run`: prepare Airflow (AIRFLOW_HOME=.airflow, SQLite metadata, LocalExecutor, parallelism 4, no
# examples) and the bot's database, unpause the DAG, and start Airflow's four components
# (scripts/airflow-stack.sh: what `airflow standalone` starts, lighter) in a session of their own
# (stack.md pitfall 4) so `make stop` can stop all of it. EXCHANGE=simulator runs fully offline.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
export PATH="$BIN:$PATH"  # Airflow's components start task processes as `airflow ...` from PATH
EXCHANGE=${EXCHANGE:-kraken}
source scripts/airflow-env.sh

mkdir -p "$AIRFLOW_HOME"
if [ -f "$AIRFLOW_HOME/run.pgid" ] && kill -0 -- "-$(cat "$AIRFLOW_HOME/run.pgid")" 2>/dev/null; then
  echo "BitSniper is already running (process group $(cat "$AIRFLOW_HOME/run.pgid")); 'make stop' first." >&2
  exit 1
fi

echo "Preparing Airflow metadata in $AIRFLOW_HOME ..."
"$BIN/airflow" db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
"$BIN/airflow" pools set kraken_api 1 "Kraken Futures API calls (one at a time)" >/dev/null
echo "Preparing the bot's database ($("$BIN/python" -c 'from bitsniper.store.db import database_url, safe_url; print(safe_url(database_url()))')) ..."
"$BIN/bitsniper" db upgrade

if [ "$EXCHANGE" = simulator ]; then
  export BITSNIPER_EXCHANGE=simulator
  export BITSNIPER_EXCHANGE_URL="http://127.0.0.1:${SIMULATOR_PORT:-8787}"
  # Throw-away key pair for the local simulator only; real keys never live in files.
  export KRAKEN_API_KEY=${KRAKEN_API_KEY:-simulator-key}
  export KRAKEN_API_SECRET=${KRAKEN_API_SECRET:-$("$BIN/python" -c 'import base64,os;print(base64.b64encode(os.urandom(64)).decode())')}
fi

echo "Starting Airflow: scheduler, dag-processor, triggerer, api-server (UI on http://localhost:8080) ..."
setsid bash -c '
  if [ "$BITSNIPER_EXCHANGE" = simulator ]; then
    "$0/bitsniper" simulator --candles include/sample_candles_15m.csv.gz --port "${SIMULATOR_PORT:-8787}" \
      --history "${SIMULATOR_HISTORY:-6200}" \
      --api-key "$KRAKEN_API_KEY" --api-secret "$KRAKEN_API_SECRET" >"$AIRFLOW_HOME/simulator.log" 2>&1 &
  fi
  exec scripts/airflow-stack.sh >"$AIRFLOW_HOME/stack.log" 2>&1
' "$BIN" &
echo $! >"$AIRFLOW_HOME/run.pgid"

echo "Waiting for the DAGs to be parsed ..."
for _ in $(seq 1 90); do
  "$BIN/airflow" dags list -o plain 2>/dev/null | grep -q "^bitsniper " && break
  sleep 2
done
for dag in bitsniper bitsniper_monitoring bitsniper_daily_summary; do
  "$BIN/airflow" dags unpause "$dag" >/dev/null 2>&1 || echo "could not unpause $dag: see $AIRFLOW_HOME/dag-processor.log" >&2
done
echo
echo "BitSniper is running (exchange: $EXCHANGE, mode: ${BITSNIPER_MODE:-paper})."
echo "  Airflow UI:      http://localhost:8080  (user admin)"
echo "  Admin password:  $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "  Logs:            $AIRFLOW_HOME/{scheduler,dag-processor,triggerer,api-server}.log, tasks in $AIRFLOW_HOME/logs"
echo "  Stop with:       make stop"
