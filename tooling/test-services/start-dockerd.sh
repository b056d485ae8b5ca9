#!/usr/bin/env bash
# Starts dockerd with no bridge network and no iptables (the containers use NetworkMode none or host),
# unless a daemon already answers on the socket. Prints the DOCKER_HOST to use.
# Usage: start-dockerd.sh DIR   (DIR receives dockerd.log and dockerd.pid)
set -euo pipefail
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
sock=/var/run/docker.sock
if docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "unix://$sock"; exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
nohup dockerd --bridge=none --iptables=false --ip6tables=false --host "unix://$sock" \
  --pidfile "$dir/dockerd.pid" >"$dir/dockerd.log" 2>&1 &
for _ in $(seq 1 100); do
  if docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; then echo "unix://$sock"; exit 0; fi
  sleep 0.2
done
echo "dockerd did not come up; see $dir/dockerd.log" >&2
tail -20 "$dir/dockerd.log" >&2 || true
exit 1
