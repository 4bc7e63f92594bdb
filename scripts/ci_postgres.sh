#!/usr/bin/env bash
# Install Debian's PostgreSQL, start a throw-away cluster on loopback, create a user and
# a database for the store tests, and print the URL to export as ZHIBIAO_TEST_PG_URL.
#
#   eval "$(scripts/ci_postgres.sh start)"     # exports ZHIBIAO_TEST_PG_URL
#   ... tests ...
#   scripts/ci_postgres.sh stop
#
# Runs as root (CI containers); the server runs as the postgres user. Only the last line
# of `start` goes to stdout (the export); everything else goes to stderr.
set -euo pipefail

PORT="${ZHIBIAO_PG_PORT:-54329}"
CLUSTER="${ZHIBIAO_PG_CLUSTER:-zhibiao_ci}"
DB=zhibiao_test
USER_NAME=zhibiao
PASSWORD="${ZHIBIAO_PG_PASSWORD:-zhibiao-ci}"

log() { echo "ci_postgres: $*" >&2; }

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1; }

install() {
    if [ -z "$(pg_version)" ]; then
        log "installing postgresql from Debian"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update >&2
        # postgresql-common would create and start a default cluster; we make our own.
        mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/zhibiao-ci.conf
        apt-get install -y --no-install-recommends postgresql >&2
    fi
}

start() {
    install
    local version; version="$(pg_version)"
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $2}' | grep -qx "$CLUSTER"; then
        log "creating cluster $version/$CLUSTER on 127.0.0.1:$PORT"
        pg_createcluster "$version" "$CLUSTER" -p "$PORT" -- --auth-local=peer --auth-host=scram-sha-256 >&2
        # loopback only
        echo "listen_addresses = '127.0.0.1'" >> "/etc/postgresql/$version/$CLUSTER/postgresql.conf"
    fi
    pg_ctlcluster "$version" "$CLUSTER" start >&2 || pg_ctlcluster "$version" "$CLUSTER" status >&2
    for _ in $(seq 30); do
        su postgres -c "psql -p $PORT -tAc 'select 1'" >/dev/null 2>&1 && break
        sleep 1
    done
    su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -q" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD';
  END IF;
END \$\$;
SQL
    if ! su postgres -c "psql -p $PORT -tAc \"select 1 from pg_database where datname='$DB'\"" | grep -q 1; then
        su postgres -c "createdb -p $PORT -O $USER_NAME $DB" >&2
    fi
    echo "export ZHIBIAO_TEST_PG_URL=postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
}

stop() {
    local version; version="$(pg_version)"
    [ -n "$version" ] || exit 0
    if pg_lsclusters -h 2>/dev/null | awk '{print $2}' | grep -qx "$CLUSTER"; then
        log "stopping and dropping cluster $version/$CLUSTER"
        pg_dropcluster --stop "$version" "$CLUSTER" >&2
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
