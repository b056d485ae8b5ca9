#!/usr/bin/env bash
# One-time (and idempotent) setup on a fresh machine: Node 24 and pnpm when the machine's Node is
# older, then the workspace dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=toolchain.sh
source scripts/toolchain.sh
echo "==> node $(node --version), pnpm $(pnpm --version)"
for attempt in 1 2 3; do
  if pnpm install --frozen-lockfile; then break; fi
  [ "$attempt" = 3 ] && { echo "pnpm install failed" >&2; exit 1; }
  echo "pnpm install failed (attempt $attempt); retrying" >&2
  sleep 3
done
echo "==> building the console (served at /console)"
pnpm --filter @aria/console build >/dev/null || echo "warning: the console could not be built; /console will say how to build it" >&2
if [ -x deploy/tool-runner/build-local.sh ] && docker version >/dev/null 2>&1; then
  echo "==> building the tool-runner image (Docker is reachable)"
  deploy/tool-runner/build-local.sh || echo "warning: the tool-runner image could not be built; container steps will fail until it is (see docs/troubleshooting.md)" >&2
fi
echo "==> setup done"
