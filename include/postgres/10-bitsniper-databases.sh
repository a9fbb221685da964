#!/usr/bin/env bash
# PostgreSQL init script (run once, on an empty data directory, by the postgres image's entrypoint from
# /docker-entrypoint-initdb.d): one server, two databases, each owned by its own login role —
# `airflow` (Airflow's metadata) and `bitsniper` (the bot's store). Passwords come from the environment
# (.env via docker-compose.yaml), never from this file. Safe to run again: existing roles and databases
# keep their data and get the password from the environment.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD must be set (see .env.example)}"
: "${BITSNIPER_DB_PASSWORD:?BITSNIPER_DB_PASSWORD must be set (see .env.example)}"

create() {  # create <role> <password> <database>
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v role="$1" -v password="$2" -v db="$3" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')\gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db')\gexec
SQL
}

create "${AIRFLOW_DB_USER:-airflow}" "$AIRFLOW_DB_PASSWORD" "${AIRFLOW_DB_NAME:-airflow}"
create "${BITSNIPER_DB_USER:-bitsniper}" "$BITSNIPER_DB_PASSWORD" "${BITSNIPER_DB_NAME:-bitsniper}"
