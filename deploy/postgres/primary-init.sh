#!/bin/bash
# Runs once, when the primary's data dir is initialised (docker-entrypoint-initdb.d): a
# role for streaming replication and the pg_hba line that lets the replica use it.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
