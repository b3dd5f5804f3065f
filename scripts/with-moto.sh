#!/usr/bin/env bash
# Runs a command against a fresh moto server on a free loopback port, and always stops the server.
# Usage: scripts/with-moto.sh [--port N] command [args...]
set -euo pipefail
cd "$(dirname "$0")/.."

port=""
if [[ "${1:-}" == "--port" ]]; then port="$2"; shift 2; fi
if [[ -z "$port" ]]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

mkdir -p .moto
log=".moto/server-$port.log"
if [[ "${PB_MOTO_SERVER:-}" == "bench" ]]; then
  .venv/bin/python scripts/moto_bench_server.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
else
  .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
fi
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT INT TERM

endpoint="http://127.0.0.1:$port"
ready=""
for _ in $(seq 1 300); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$server" 2>/dev/null; then echo "moto server failed to start; see $log" >&2; exit 1; fi
  sleep 0.2
done
if [[ -z "$ready" ]]; then echo "moto server on port $port never answered within 60 s; see $log" >&2; exit 1; fi

export AWS_ENDPOINT_URL="$endpoint"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_EC2_METADATA_DISABLED=true
echo "moto server: $endpoint (log: $log)" >&2
"$@"
