#!/usr/bin/env bash
# Starts a throwaway redis-server for the tests that need one and exports
# SPARK_TEST_REDIS_URL. Source it (scripts/test.sh does); run directly, it
# starts Redis, prints the URL and waits until interrupted.
#
# The server listens on 127.0.0.1 on a free port, keeps nothing on disk (no
# RDB snapshots, no append-only file), works in a temporary directory and
# is stopped, its directory removed, when the sourcing shell exits.
# redis-server comes from Debian's package, installed when missing.

spark_redis_start() {
  if ! command -v redis-server >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  local dir port pid
  dir=$(mktemp -d "${TMPDIR:-/tmp}/spark-redis.XXXXXX")
  # A free port: one nothing answers on (a race with another process is
  # caught below: redis-server then exits and the wait fails).
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      break
    fi
  done
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --protected-mode yes --daemonize no --logfile "$dir/redis.log" &
  pid=$!
  for _ in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
      SPARK_REDIS_PID=$pid SPARK_REDIS_DIR=$dir
      export SPARK_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
      echo "== redis-server $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/') on 127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "redis-server did not start:" >&2
  cat "$dir/redis.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  rm -rf "$dir"
  return 1
}

spark_redis_stop() {
  if [ -n "${SPARK_REDIS_PID:-}" ]; then
    kill "$SPARK_REDIS_PID" 2>/dev/null || true
    wait "$SPARK_REDIS_PID" 2>/dev/null || true
    rm -rf "$SPARK_REDIS_DIR"
    SPARK_REDIS_PID=
  fi
}

spark_redis_start || exit 1
# Stop on exit, after whatever the shell already runs then.
_spark_redis_prev_exit=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
trap "spark_redis_stop; ${_spark_redis_prev_exit}" EXIT

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "SPARK_TEST_REDIS_URL=$SPARK_TEST_REDIS_URL (Ctrl-C stops it)"
  wait "$SPARK_REDIS_PID"
fi
