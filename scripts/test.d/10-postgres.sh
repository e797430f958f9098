# PostgreSQL 15 for the second run of the suite: a throwaway cluster under $TEST_RUN_DIR on a
# free loopback port, trust auth, fsync on (the crash tests rely on real durability). Each
# test creates its own database on it, so tests stay independent and run in parallel. It is
# also the primary of the streaming replica that 11-postgres-replica.sh starts.
apt_install postgresql
pg_bin=/usr/lib/postgresql/15/bin
pg_data="$TEST_RUN_DIR/postgres"
pg_port="$(free_port)"
mkdir -p "$pg_data"
# initdb refuses to run as root; as root the cluster belongs to the package's `postgres` user,
# who must be able to reach the run dir (mktemp makes it 0700).
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chmod 0711 "$TEST_RUN_DIR"
  chown postgres: "$pg_data"
  as_pg=(runuser -u postgres --)
fi
chmod 0700 "$pg_data"
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# The replica copies and streams over a replication connection, which needs enough WAL
# (wal_level=replica), a WAL sender and a pg_hba line. PostgreSQL's and initdb's defaults
# give them today; they are said here because the replica depends on them.
echo "host replication postgres 127.0.0.1/32 trust" >> "$pg_data/pg_hba.conf"
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 start -o \
  "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories='$pg_data' \
   -c fsync=on -c synchronous_commit=on -c max_connections=400 \
   -c wal_level=replica -c max_wal_senders=4" >/dev/null
head -n 1 "$pg_data/postmaster.pid" >> "$TEST_RUN_DIR/pids"
export TICKITECKING_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $pg_port"
