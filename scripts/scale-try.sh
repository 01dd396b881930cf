#!/usr/bin/env bash
# The scale-out set on one machine, for a try: PostgreSQL (scripts/postgres.sh), SeaweedFS as the
# S3 server (scripts/seaweedfs.sh), `phota migrate`, two API processes without job loops and two
# workers, each process with its own empty data dir. See docs/deploy.md.
#
# Usage: scripts/scale-try.sh start   prints the two API URLs and a test key
#        scripts/scale-try.sh stop    stops the phota processes and the S3 server (PostgreSQL stays)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/.venv/bin"
RUN="${PHOTA_TRY_DIR:-/tmp/phota-scale-try}"
API_PORTS=(${PHOTA_TRY_PORTS:-8001 8002})

start() {
  mkdir -p "$RUN"
  local pg; pg="$(bash "$ROOT/scripts/postgres.sh" start)"
  # A database of its own, so a try never mixes with the tests' databases.
  "$BIN/python" - "$pg" <<'EOF'
import sys
import sqlalchemy as sa
admin = sa.create_engine(sys.argv[1].rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
with admin.connect() as conn:
    if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = 'phota_try'")):
        conn.execute(sa.text('CREATE DATABASE "phota_try" OWNER phota'))
EOF
  local s3env; s3env="$(bash "$ROOT/scripts/seaweedfs.sh" start "$RUN/s3")"
  set -a
  # shellcheck disable=SC1090
  source <(echo "$s3env")
  set +a
  [ -f "$RUN/secret_key" ] || od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$RUN/secret_key"
  export PHOTA_DATABASE_URL="${pg%/*}/phota_try"
  export PHOTA_BLOB_URL="s3://$S3_BUCKET/try?endpoint_url=$S3_ENDPOINT_URL"
  export PHOTA_SECRET_KEY; PHOTA_SECRET_KEY="$(cat "$RUN/secret_key")"
  export PHOTA_PUBLIC_BASE_URL="http://127.0.0.1:${API_PORTS[0]}"
  export PHOTA_JOB_QUEUE=procrastinate

  "$BIN/phota" migrate
  local i=0
  for port in "${API_PORTS[@]}"; do
    i=$((i + 1))
    run "api$i" "$BIN/phota" serve --port "$port" --jobs 0
  done
  run worker-training "$BIN/phota" worker --queues training --concurrency 2
  run worker-studio "$BIN/phota" worker --queues studio,callbacks,maintenance --concurrency 8
  for port in "${API_PORTS[@]}"; do
    for _ in $(seq 120); do
      curl -fs -o /dev/null "http://127.0.0.1:$port/v1/phota/openapi.json" && break
      sleep 0.5
    done
  done
  echo "APIs:     ${API_PORTS[*]/#/http://127.0.0.1:}  (path /v1/phota)"
  echo "test key: $("$BIN/phota" keys create --account try)"
  echo "logs:     $RUN/*.log; stop with: $0 stop"
}

run() {  # name command...: one process in its own group and its own empty data dir
  local name="$1"; shift
  mkdir -p "$RUN/$name"
  PHOTA_DATA_DIR="$RUN/$name" setsid "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

stop() {
  for pidfile in "$RUN"/*.pid; do
    [ -f "$pidfile" ] || continue
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  bash "$ROOT/scripts/seaweedfs.sh" stop "$RUN/s3"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
