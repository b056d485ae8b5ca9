#!/usr/bin/env bash
# Builds the runtime image without any registry: compiles the packages, assembles the production
# tree with `pnpm deploy`, and builds deploy/runtime/Dockerfile on top of BASE (default: the
# locally built tool-runner image, which has Node and uid 1000; in real deployments node:24-slim).
# Usage: deploy/runtime/build-image.sh [TAG] [BASE]
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-aria-runtime:latest}
base=${2:-aria-tool-runner:latest}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pnpm exec turbo run build --filter=@aria/runtime... --filter=@aria/console --output-logs=errors-only >&2
pnpm --filter @aria/runtime deploy --prod "$out/app" >&2
# The console's built assets (apps/console/dist), served by the runtime at /console.
cp -R apps/console/dist "$out/app/console"
docker build --quiet --build-arg "BASE=$base" -f deploy/runtime/Dockerfile -t "$tag" "$out/app"
