#!/usr/bin/env bash
# The newcomer's one command: set up (idempotent) and start the runtime with the example bundles.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck source=toolchain.sh
source scripts/toolchain.sh
exec pnpm start "$@"
