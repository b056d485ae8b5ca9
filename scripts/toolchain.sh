# shellcheck shell=bash
# Source this file: puts Node >= 22.12 and the pinned pnpm first on PATH, installing them from the
# npm registry into .tools/ when the machine's Node is older (the `node` package ships the binary).
_aria_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_aria_tools="$_aria_root/.tools"
_aria_pnpm_version="$(node -p 'require(process.argv[1]).packageManager.split("@")[1]' "$_aria_root/package.json" 2>/dev/null || echo 12.21.0)"

_aria_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if [ -x "$_aria_tools/node_modules/.bin/node" ]; then
  export PATH="$_aria_tools/node_modules/.bin:$PATH"
fi
if ! _aria_node_ok || ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$_aria_pnpm_version" ]; then
  echo "==> installing Node 24 and pnpm $_aria_pnpm_version into .tools/ (machine Node: $(node --version 2>/dev/null || echo none))" >&2
  mkdir -p "$_aria_tools"
  for attempt in 1 2 3; do
    if npm install --prefix "$_aria_tools" --no-audit --no-fund --loglevel=error "node@24" "pnpm@$_aria_pnpm_version" >&2; then break; fi
    echo "npm install failed (attempt $attempt); retrying" >&2
    sleep 3
  done
  export PATH="$_aria_tools/node_modules/.bin:$PATH"
fi
if ! _aria_node_ok; then
  echo "error: Node >= 22.12 is required and could not be installed (have $(node --version 2>/dev/null || echo none))" >&2
  return 1 2>/dev/null || exit 1
fi
export TURBO_TELEMETRY_DISABLED=1
unset _aria_root _aria_tools _aria_pnpm_version
