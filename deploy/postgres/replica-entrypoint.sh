#!/bin/bash
# A hot standby: on first start, copies the primary with pg_basebackup (-R writes the
# standby settings), then runs postgres read-only, streaming from the primary.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h postgres -U replicator \
      -D "$PGDATA" -Fp -Xs -R -P; do
    echo "waiting for the primary"; rm -rf "${PGDATA:?}"/*; sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
