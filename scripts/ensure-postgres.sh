# Sourced by `make test`: make PostgreSQL reachable for the database tests and export its URL.
# Order: BITSNIPER_TEST_DATABASE_URL if set; else 127.0.0.1:5432; else start the local cluster with
# pg_ctlcluster where it exists. Where none can be had the database tests skip (fail when CI=true).
_pg_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 -t 3; }

if [ -z "${BITSNIPER_TEST_DATABASE_URL:-}" ]; then
  if ! _pg_ready && command -v pg_ctlcluster >/dev/null 2>&1; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      echo "starting the local PostgreSQL $version cluster" >&2
      pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
        || pg_ctlcluster "$version" main start 2>/dev/null || true
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do _pg_ready && break; sleep 1; done
  fi
  _pg_ready || echo "PostgreSQL is not reachable on 127.0.0.1:5432: database tests will skip (fail under CI=true)" >&2
fi
