# Redis for the shared-state tests (tests/api/shared_state.rs): a throwaway server on a
# free loopback port, nothing saved to disk. The tests also start (and kill) servers of
# their own from the same binary, to show a Redis outage and recovery.
apt_install redis-server
mkdir -p "$TEST_RUN_DIR/redis"
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$TEST_RUN_DIR/redis" --daemonize no --logfile "$TEST_RUN_DIR/redis/redis.log" &
echo $! >> "$TEST_RUN_DIR/pids"
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null || { cat "$TEST_RUN_DIR/redis/redis.log"; exit 1; }
export TICKITECKING_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
TICKITECKING_TEST_REDIS_SERVER="$(command -v redis-server)"
export TICKITECKING_TEST_REDIS_SERVER
