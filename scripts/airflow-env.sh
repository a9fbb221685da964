# Sourced by the run scripts and by tests that need Airflow: one place for the local Airflow settings.
export AIRFLOW_HOME=${AIRFLOW_HOME:-$PWD/.airflow}
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$PWD/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}  # stack.md: 32 (the default) costs ~5.5 GB
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=${AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES:-1}
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}
export BITSNIPER_DATABASE_URL=${BITSNIPER_DATABASE_URL:-sqlite:///$PWD/.airflow/bitsniper.db}
# SQLite metadata: wait up to 60 s for a write lock instead of 5 s (bitsniper/airflow/sqlite_metadata.py).
if [[ $AIRFLOW__DATABASE__SQL_ALCHEMY_CONN == sqlite* ]]; then
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-bitsniper.airflow.sqlite_metadata.CONNECT_ARGS}
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC:-bitsniper.airflow.sqlite_metadata.ASYNC_CONNECT_ARGS}
fi
