# A hot-standby streaming replica of the PostgreSQL server of 10-postgres.sh, for the read
# replica tests (tests/api/ops.rs): only a real replica lags behind its primary, and the
# tests pause its replay to make that lag last as long as they need. It is a copy of the
# primary (pg_basebackup -R writes the standby settings) on its own free port, so every
# database a test creates on the primary appears on it by replication.
#
# as_pg, pg_bin and pg_port come from 10-postgres.sh, sourced just before.
# shellcheck disable=SC2154
replica_data="$TEST_RUN_DIR/postgres-replica"
replica_port="$(free_port)"
mkdir -p "$replica_data"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$replica_data"
chmod 0700 "$replica_data"
# A fast checkpoint: the copy would otherwise wait for a spread one to finish. No sync of
# the copy, nor fsync on the replica later: nothing tests its durability, and it replays
# the whole suite's writes.
"${as_pg[@]}" "$pg_bin/pg_basebackup" -h 127.0.0.1 -p "$pg_port" -U postgres -D "$replica_data" \
  -R -X stream --checkpoint=fast --no-sync
# A standby refuses to start with fewer connections than its primary allows.
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$replica_data" -l "$replica_data/server.log" -w -t 60 start -o \
  "-c listen_addresses=127.0.0.1 -c port=$replica_port -c unix_socket_directories='$replica_data' \
   -c hot_standby=on -c max_connections=400 -c fsync=off" >/dev/null
head -n 1 "$replica_data/postmaster.pid" >> "$TEST_RUN_DIR/pids"
# Up is not enough: the tests need a standby that is receiving the primary's WAL.
replica_streaming() {
  [ "$("$pg_bin/psql" -h 127.0.0.1 -p "$replica_port" -U postgres -d postgres -XAtc \
    "SELECT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')" \
    2>/dev/null)" = t ]
}
for _ in $(seq 300); do
  replica_streaming && break
  sleep 0.1
done
replica_streaming || { cat "$replica_data/server.log"; exit 1; }
export TICKITECKING_TEST_POSTGRES_REPLICA_URL="postgres://postgres@127.0.0.1:$replica_port/postgres"
echo "PostgreSQL streaming replica on port $replica_port"
