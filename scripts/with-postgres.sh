#!/usr/bin/env bash
# with-postgres.sh - run a command next to a throwaway PostgreSQL 15 server.
#
#   scripts/with-postgres.sh CMD [ARG...]
#
# Creates a cluster with initdb in a fresh temporary directory, starts it on 127.0.0.1 at a free
# port (its unix socket in the same directory, trust authentication: it is a local test server),
# creates the database `socle`, exports
#   SOCLE_TEST_PG_URL   postgres://socletest@127.0.0.1:PORT/socle
#   SOCLE_TEST_PG_ADMIN_URL  the same on the `postgres` database (for CREATE DATABASE)
#   PGHOST PGPORT PGUSER  so that psql/createdb reach the test server without arguments
# then runs CMD and returns its exit status. The server is stopped and the directory removed on
# every exit path (success, failure, Ctrl-C).
# PostgreSQL refuses to run as root: as root the cluster belongs to the system user `socletest`
# (created when missing, or `nobody` if it cannot be created).
# Needs the Debian package postgresql-15 (scripts/deps.sh installs it); PG_BIN overrides the
# binaries' directory.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARG...]" >&2
  exit 2
fi

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
for b in initdb pg_ctl postgres; do
  if [ ! -x "$PG_BIN/$b" ]; then
    echo "with-postgres: $PG_BIN/$b not found (install postgresql-15: scripts/deps.sh)" >&2
    exit 2
  fi
done

# run_pg - run a PostgreSQL binary as the cluster owner.
pg_user=""
if [ "$(id -u)" -eq 0 ]; then
  if ! id socletest >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin socletest 2>/dev/null || true
  fi
  if id socletest >/dev/null 2>&1; then pg_user=socletest; else pg_user=nobody; fi
fi
run_pg() {
  if [ -n "$pg_user" ]; then
    # setpriv/runuser keep the environment; -- ends their options.
    runuser -u "$pg_user" -- "$@"
  else
    "$@"
  fi
}

# Under /tmp rather than $TMPDIR: the cluster owner must be able to reach it.
dir=$(mktemp -d /tmp/socle-pg.XXXXXX)
chmod 755 "$dir"
[ -n "$pg_user" ] && chown "$pg_user" "$dir"
pgdata="$dir/data"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -f "$pgdata/postmaster.pid" ]; then
    run_pg "$PG_BIN/pg_ctl" -D "$pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || {
      pid=$(head -1 "$pgdata/postmaster.pid" 2>/dev/null || true)
      [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    }
  fi
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# free_port - a TCP port nobody listens on right now (asked from the kernel).
free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

dbuser=socletest
# The PostgreSQL binaries run from $dir: the caller's cwd may be unreadable to the cluster owner.
here=$(pwd)
cd "$dir"
if ! run_pg "$PG_BIN/initdb" -D "$pgdata" -U "$dbuser" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
     --no-sync >"$dir/initdb.log" 2>&1; then
  # Old glibc without C.UTF-8: fall back to the C locale.
  rm -rf "$pgdata"
  run_pg "$PG_BIN/initdb" -D "$pgdata" -U "$dbuser" --auth=trust --encoding=UTF8 --locale=C \
     --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; echo "with-postgres: initdb failed" >&2; exit 2; }
fi

# Test server: durability off makes it faster and does not change what the tests observe.
started=0
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  if run_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$dir/server.log" -w -t 60 \
       -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB" \
       start >/dev/null 2>&1; then
    started=1
    break
  fi
  # Port taken between the probe and the start: try another one.
  rm -f "$pgdata/postmaster.pid"
done
if [ $started -ne 1 ]; then
  cat "$dir/server.log" >&2 || true
  echo "with-postgres: could not start PostgreSQL" >&2
  exit 2
fi

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=$dbuser PGDATABASE=postgres
export SOCLE_TEST_PG_DIR="$dir"
psql=psql
[ -x "$PG_BIN/psql" ] && psql="$PG_BIN/psql"
"$psql" -q -X -v ON_ERROR_STOP=1 -c 'CREATE DATABASE socle' >/dev/null
export SOCLE_TEST_PG_URL="postgres://$dbuser@127.0.0.1:$port/socle"
export SOCLE_TEST_PG_ADMIN_URL="postgres://$dbuser@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($SOCLE_TEST_PG_URL)" >&2

cd "$here"
set +e
"$@"
rc=$?
set -e
exit $rc
