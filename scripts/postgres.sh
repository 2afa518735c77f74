#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite, independent of any system cluster.
#
#   scripts/postgres.sh start   initdb + start + create database cloudcpe_test
#                               (idempotent: a cluster that answers is kept; a dead one
#                               is killed and recreated)
#   scripts/postgres.sh url     print the SQLAlchemy URL of that database
#   scripts/postgres.sh stop    stop the cluster and remove its directory
#   scripts/postgres.sh status  exit 0 when running
#
# How it is reached: no TCP at all (listen_addresses = ''). The server listens only on a
# unix socket in $CLOUDCPE_PG_DIR (default /tmp/cloudcpe-pg), with trust authentication for
# the superuser "postgres". URL:
#   postgresql+psycopg://postgres@/cloudcpe_test?host=/tmp/cloudcpe-pg
# psql: psql -h /tmp/cloudcpe-pg -U postgres cloudcpe_test
#
# The binaries come from the highest /usr/lib/postgresql/*/bin (Debian's postgresql
# package; scripts/setup.sh installs it). As root, the server runs as the "postgres" OS
# user (PostgreSQL refuses to run as root); as another user, it runs as that user.
# Durability is switched off (fsync, synchronous_commit, full_page_writes): test data only.
set -euo pipefail

PG_DIR="${CLOUDCPE_PG_DIR:-/tmp/cloudcpe-pg}"
DATA_DIR="$PG_DIR/data"
LOG_FILE="$PG_DIR/postgres.log"
DB_NAME="${CLOUDCPE_PG_DB:-cloudcpe_test}"
PG_USER=postgres # the database superuser (initdb -U), whatever the OS user is
case "$PG_DIR" in
    /tmp/?* | /var/tmp/?* | /run/?*) ;;
    *) echo "postgres.sh: CLOUDCPE_PG_DIR must be a directory under /tmp, /var/tmp or /run (it is removed on stop)" >&2; exit 1 ;;
esac

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

find_bindir() {
    local dir best=""
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] || continue
        if [ -z "$best" ] || [ "$(basename "$(dirname "$dir")")" -gt "$(basename "$(dirname "$best")")" ] 2>/dev/null; then
            best="$dir"
        fi
    done
    [ -n "$best" ] || die "no PostgreSQL server found in /usr/lib/postgresql/*/bin (run scripts/setup.sh, or: apt-get install -y postgresql)"
    echo "$best"
}

# Run a command as the OS user that owns the cluster.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        getent passwd postgres >/dev/null || die "OS user 'postgres' missing (apt-get install -y postgresql creates it)"
        # cd / so the postgres user is never left in a directory it cannot read
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Running = a server answers on our socket (pg_ctl status alone is fooled by a zombie).
is_running() {
    [ -f "$DATA_DIR/PG_VERSION" ] || return 1
    "$BIN/pg_isready" -q -h "$PG_DIR" -U "$PG_USER" -d postgres >/dev/null 2>&1
}

# Kill a postmaster left behind by an earlier run that no longer answers.
kill_stale() {
    local pid
    [ -f "$DATA_DIR/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "postgres" ]; then
        kill -9 "$pid" 2>/dev/null || true
        sleep 0.2
    fi
}

url() {
    echo "postgresql+psycopg://$PG_USER@/$DB_NAME?host=$PG_DIR"
}

start() {
    if is_running; then
        ensure_db
        return 0
    fi
    # Not answering: whatever is there is a leftover. Start from scratch (initdb < 1 s).
    kill_stale
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$PG_DIR"
    fi
    chmod 0755 "$PG_DIR"
    local out
    if ! out=$(as_owner "$BIN/initdb" -D "$DATA_DIR" -U "$PG_USER" --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync 2>&1); then
        echo "$out" >&2
        die "initdb failed"
    fi
    cat >>"$DATA_DIR/postgresql.conf" <<EOF

# --- cloudcpe throwaway test cluster ---
listen_addresses = ''
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF
    if ! as_owner "$BIN/pg_ctl" start -w -t 60 -D "$DATA_DIR" -l "$LOG_FILE" >/dev/null 2>&1; then
        echo "--- $LOG_FILE ---" >&2
        tail -n 30 "$LOG_FILE" >&2 || true
        die "pg_ctl start failed"
    fi
    ensure_db
}

ensure_db() {
    local exists
    exists=$(as_owner "$BIN/psql" -h "$PG_DIR" -U "$PG_USER" -d postgres -XtAq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")
    if [ "$exists" != "1" ]; then
        as_owner "$BIN/createdb" -h "$PG_DIR" -U "$PG_USER" "$DB_NAME"
    fi
}

stop() {
    if [ -f "$DATA_DIR/postmaster.pid" ] && [ -n "${BIN:-}" ]; then
        as_owner "$BIN/pg_ctl" stop -w -t 30 -m fast -D "$DATA_DIR" >/dev/null 2>&1 || kill_stale
    fi
    rm -rf "$PG_DIR"
}

cmd="${1:-}"
case "$cmd" in
    start)
        BIN=$(find_bindir)
        start
        echo "postgres.sh: running, $(url)" >&2
        ;;
    stop)
        BIN=$(find_bindir 2>/dev/null) || BIN=""
        stop
        ;;
    url)
        url
        ;;
    status)
        BIN=$(find_bindir)
        is_running
        ;;
    *)
        echo "usage: $0 start|stop|url|status" >&2
        exit 2
        ;;
esac
