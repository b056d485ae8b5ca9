#!/usr/bin/env bash
# Development: Redis and dockerd when the machine has them (it says how to install them otherwise),
# the runtime in watch mode (tsx watch), and the example bundles hot-reloaded on every change.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=toolchain.sh
source scripts/toolchain.sh
[ -d node_modules ] || scripts/setup.sh
state="$(pwd)/.aria-dev"
mkdir -p "$state"

if [ -z "${REDIS_URL:-}" ]; then
  if command -v redis-server >/dev/null; then
    REDIS_URL=$(tooling/test-services/start-redis.sh "$state/redis")
    export REDIS_URL
    echo "==> redis: $REDIS_URL (stopped when you stop this script)"
    trap 'kill "$(cat "$state/redis/redis.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
  else
    echo "==> redis-server is not installed: state stays in memory (install: sudo apt-get install redis-server)"
  fi
fi

if docker version >/dev/null 2>&1; then
  echo "==> docker: reachable"
elif command -v dockerd >/dev/null && [ "$(id -u)" = 0 ]; then
  export DOCKER_HOST
  DOCKER_HOST=$(tooling/test-services/start-dockerd.sh "$state/dockerd") && echo "==> docker: started ($DOCKER_HOST)"
else
  echo "==> Docker is not available: container steps will fail (install: sudo apt-get install docker.io, then start dockerd)"
fi
if docker version >/dev/null 2>&1; then deploy/tool-runner/build-local.sh "$(command -v node)" >/dev/null; fi

export ARIA_EXAMPLES_DIR="${ARIA_EXAMPLES_DIR:-$(pwd)/examples}"
export ARIA_HOT_RELOAD=true
export ARIA_DATA_DIR="${ARIA_DATA_DIR:-$state/data}"
echo "==> runtime in watch mode; example bundles hot-reloaded from $ARIA_EXAMPLES_DIR"
pnpm --filter @aria/runtime dev
