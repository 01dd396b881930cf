#!/usr/bin/env bash
# Installs (from Debian's packages) and starts a throwaway PostgreSQL server for the
# scale-out tests, listening on 127.0.0.1:${PHOTA_PG_PORT:-54329}, database "phota".
# Usage: scripts/postgres.sh start|stop|url
set -euo pipefail
PORT="${PHOTA_PG_PORT:-54329}"
DATA="${PHOTA_PG_DATA:-/tmp/phota-pg-$PORT}"
URL="postgresql+psycopg://phota:phota@127.0.0.1:$PORT/phota"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && echo "$dir"
}

as_postgres() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
  if [ -z "$(pg_bin)" ]; then
    echo "installing postgresql from Debian packages..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
  fi
}

start() {
  install
  local bin; bin=$(pg_bin)
  if as_postgres "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "$URL"; return
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"; mkdir -p "$DATA"
    [ "$(id -u)" = "0" ] && chown postgres: "$DATA"
    as_postgres "$bin/initdb" -D "$DATA" -U postgres -A trust --no-sync >/dev/null
  fi
  as_postgres "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='phota'" | grep -q 1 \
    || "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE ROLE phota LOGIN PASSWORD 'phota' CREATEDB"
  "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='phota'" | grep -q 1 \
    || "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE phota OWNER phota"
  echo "$URL"
}

stop() {
  local bin; bin=$(pg_bin) || exit 0
  as_postgres "$bin/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
