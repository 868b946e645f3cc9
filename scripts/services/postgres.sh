# shellcheck shell=bash
# Starts a throw-away PostgreSQL for the tests and exports
# SPARK_TEST_DATABASE_URL (a superuser URL: the tests create and drop one
# database per test). Source it: `. scripts/services/postgres.sh`. It
# installs Debian's postgresql package when no server is found, creates a
# cluster in a temporary directory owned by an unprivileged user (the server
# refuses to run as root), listens on 127.0.0.1 only, on a free port, with a
# random password, and stops the server and removes the directory when the
# sourcing shell exits (the EXIT trap already set is kept and runs after).
# A SPARK_TEST_DATABASE_URL already set is left alone (an existing server).

spark_pg_start() {
  if [ -n "${SPARK_TEST_DATABASE_URL:-}" ]; then
    echo "== postgres: using SPARK_TEST_DATABASE_URL from the environment"
    return 0
  fi
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
    echo "== postgres: installing Debian's postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
    echo "postgres: no server found under /usr/lib/postgresql after installing" >&2
    return 1
  fi

  # As root, run the server as an unprivileged user: the package's
  # "postgres" account, else nobody.
  local run=()
  if [ "$(id -u)" = 0 ]; then
    local user=postgres
    id -u "$user" >/dev/null 2>&1 || user=nobody
    run=(runuser -u "$user" --)
  fi

  local dir password port
  dir=$(mktemp -d "${TMPDIR:-/tmp}/spark-pg.XXXXXX")
  chmod 0755 "$dir"
  mkdir -m 0700 "$dir/data"
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$dir/pwfile"
  chmod 0600 "$dir/pwfile"
  if [ ${#run[@]} -gt 0 ]; then
    chown "${run[2]}" "$dir" "$dir/data" "$dir/pwfile"
  fi
  SPARK_PG_DIR=$dir
  SPARK_PG_CTL=("${run[@]}" "$bindir/pg_ctl")

  "${run[@]}" "$bindir/initdb" -D "$dir/data" -U spark --pwfile="$dir/pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    return 1
  }
  rm -f "$dir/pwfile"

  # A free port: try random ones until the server starts on one. fsync
  # is off (a test cluster need not survive a crash); enough connections
  # for parallel test packages, each test opening a pool.
  local try
  for try in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    if "${SPARK_PG_CTL[@]}" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
      -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null; then
      export SPARK_TEST_DATABASE_URL="postgres://spark:$password@127.0.0.1:$port/postgres?sslmode=disable"
      echo "== postgres: $("$bindir/postgres" --version | sed 's/.*) //') on 127.0.0.1:$port ($dir)"
      return 0
    fi
  done
  echo "postgres: the server did not start:" >&2
  cat "$dir/server.log" >&2
  return 1
}

spark_pg_stop() {
  if [ -n "${SPARK_PG_DIR:-}" ]; then
    "${SPARK_PG_CTL[@]}" -D "$SPARK_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$SPARK_PG_DIR"
    SPARK_PG_DIR=
  fi
}

# spark_pg_trap runs spark_pg_stop on exit, before the EXIT trap already set.
spark_pg_trap() {
  local prev
  prev=$(trap -p EXIT)
  if [ -n "$prev" ]; then
    eval "set -- $prev" # trap -- 'command' EXIT
    prev=$3
  fi
  # shellcheck disable=SC2064 # expanded now on purpose
  trap "spark_pg_stop${prev:+; $prev}" EXIT
}

spark_pg_trap
spark_pg_start
