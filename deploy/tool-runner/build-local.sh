#!/usr/bin/env bash
# Builds the Aria tool-runner image WITHOUT any image registry: it assembles a root file system from
# this machine's Node.js binary and its shared libraries, a small shell, a few core utilities, an
# /etc/passwd with the non-root user `aria` (uid 1000), and the in-container runner script, then
# imports it with `docker import`. Idempotent: when an image with the same content hash label
# exists it does nothing (a second run takes well under a second).
#
# Usage: deploy/tool-runner/build-local.sh [NODE_BINARY]
#   NODE_BINARY   the node to copy (default: $ARIA_NODE_BIN, else `command -v node`); symlinks resolved
# Environment:
#   ARIA_TOOL_IMAGE   image name (default aria-tool-runner:latest)
#   DOCKER_HOST       the Docker engine (default: the local socket)
#   ARIA_FORCE=1      rebuild even if the content hash matches
#   ARIA_STRIP=0      keep the node binary's debug symbols (default: strip them when `strip` exists)
# Prints the image name on success.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
image=${ARIA_TOOL_IMAGE:-aria-tool-runner:latest}
node_arg=${1:-${ARIA_NODE_BIN:-$(command -v node || true)}}
[ -n "$node_arg" ] || { echo "build-local.sh: no node binary found (pass one as the first argument)" >&2; exit 1; }
node_bin=$(readlink -f "$node_arg")
[ -x "$node_bin" ] || { echo "build-local.sh: $node_bin is not an executable" >&2; exit 1; }
runner="$repo/packages/quilt-client/runner/aria-runner.mjs"
[ -f "$runner" ] || { echo "build-local.sh: runner script missing at $runner" >&2; exit 1; }
command -v docker >/dev/null || { echo "build-local.sh: the docker CLI is not installed" >&2; exit 1; }

# A shell for `sh -c` workloads: busybox if the machine has one (it also brings the usual applets),
# otherwise dash. Plus a few core utilities workloads commonly use.
shell_bin=""
if command -v busybox >/dev/null; then shell_bin=$(readlink -f "$(command -v busybox)"); shell_kind=busybox
elif [ -x /bin/dash ]; then shell_bin=$(readlink -f /bin/dash); shell_kind=dash
else echo "build-local.sh: neither busybox nor dash is available for /bin/sh" >&2; exit 1; fi
utils=()
for u in cat sleep id env ls true false echo head tail wc mkdir rm touch; do
  p=$(type -P "$u" 2>/dev/null || true)
  case "$p" in /*) utils+=("$(readlink -f "$p"):$u") ;; esac
done

# Everything that goes into the image, for the content hash.
strip_flag=${ARIA_STRIP:-1}
command -v strip >/dev/null || strip_flag=0
files=("$node_bin" "$shell_bin" "$runner" "${BASH_SOURCE[0]}")
for u in "${utils[@]}"; do files+=("${u%%:*}"); done
libs=$(for f in "$node_bin" "$shell_bin" "${utils[@]%%:*}"; do ldd "$f" 2>/dev/null | grep -o '/[^ ]*' ; done | sort -u)
for l in $libs; do files+=("$(readlink -f "$l")"); done
hash=$( { printf 'strip=%s shell=%s\n' "$strip_flag" "$shell_kind"; printf '%s\n' "${utils[@]}"; sha256sum "${files[@]}"; } | sha256sum | cut -c1-32)

current=$(docker image inspect -f '{{ index .Config.Labels "aria.content-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ] && [ "${ARIA_FORCE:-0}" != "1" ]; then
  echo "$image"; exit 0
fi

# One build at a time on this machine (tests, CI and `aria doctor` may call this concurrently).
lock=${TMPDIR:-/tmp}/aria-tool-runner-build.lock
if command -v flock >/dev/null; then exec 9>"$lock"; flock 9; fi
current=$(docker image inspect -f '{{ index .Config.Labels "aria.content-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ] && [ "${ARIA_FORCE:-0}" != "1" ]; then
  echo "$image"; exit 0
fi

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/aria-tool-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{usr/local/bin,bin,usr/bin,etc,tmp,workspace,bundle,run/aria,opt/aria,proc,sys,dev,home/aria}
chmod 1777 "$rootfs/tmp"

install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
if [ "$strip_flag" = "1" ]; then strip --strip-debug "$rootfs/usr/local/bin/node" 2>/dev/null || true; fi
install -m 0755 "$shell_bin" "$rootfs/bin/$shell_kind"
ln -s "$shell_kind" "$rootfs/bin/sh"
for u in "${utils[@]}"; do
  src=${u%%:*} name=${u##*:}
  [ -e "$rootfs/bin/$name" ] || install -m 0755 "$src" "$rootfs/bin/$name"
done
# Shared libraries at the paths the dynamic loader expects (symlinks resolved).
for l in $libs; do
  mkdir -p "$rootfs$(dirname "$l")"
  cp -L "$l" "$rootfs$l"
done

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
aria:x:1000:1000:aria:/home/aria:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
aria:x:1000:
nogroup:x:65534:
EOF
: >"$rootfs/etc/hosts"; : >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"
install -m 0644 "$runner" "$rootfs/opt/aria/runner.mjs"

# Everything belongs to root (the root file system is read-only at run time; /tmp and /workspace are
# tmpfs mounts owned by the container user), whoever runs this script.
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . | docker import \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /workspace' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV HOME=/home/aria' \
  --change 'ENV ARIA_RUNNER_SOCKET=/run/aria/runner.sock' \
  --change "LABEL aria.content-hash=$hash" \
  --change 'LABEL aria.tool-runner=1' \
  --change 'CMD ["node", "/opt/aria/runner.mjs"]' \
  - "$image" >/dev/null
echo "$image"
