#!/usr/bin/env bash
# Starts a throwaway redis-server on a free loopback port and prints its URL (redis://127.0.0.1:PORT).
# Usage: start-redis.sh DIR   (DIR receives redis.pid, redis.log and the data files)
set -euo pipefail
dir=$(realpath -m "${1:-$(mktemp -d)}")
mkdir -p "$dir"
command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
for _ in $(seq 1 50); do
  if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then echo "redis://127.0.0.1:$port"; exit 0; fi
  sleep 0.1
done
echo "redis-server did not answer on port $port; see $dir/redis.log" >&2
exit 1
