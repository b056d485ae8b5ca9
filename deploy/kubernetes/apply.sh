#!/usr/bin/env bash
# Renders the Kubernetes manifests for an environment and applies them:
#
#   deploy/kubernetes/apply.sh ENV [--render-only | --dry-run]
#
# ENV is an overlay under deploy/kubernetes/overlays (dev, prod). --render-only prints the rendered
# manifests and touches no cluster; --dry-run sends them to the API server with --dry-run=server.
# Needs kubectl (its built-in kustomize) or the kustomize binary, and a kubeconfig for the target
# cluster. Without a generated Secret in the overlay (prod), the Secret aria-secrets must exist
# in the namespace first (docs/operations.md, "Credentials").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() {
  echo "usage: $0 ENV [--render-only | --dry-run]   (ENV: $(ls "$here/overlays" | tr '\n' ' '))" >&2
  exit 2
}
[ $# -ge 1 ] || usage
env_name=$1
shift
mode=apply
for arg in "$@"; do
  case $arg in
    --render-only) mode=render ;;
    --dry-run) mode=dry-run ;;
    *) usage ;;
  esac
done
case $env_name in */* | .* | "") usage ;; esac
overlay="$here/overlays/$env_name"
[ -f "$overlay/kustomization.yaml" ] || {
  echo "apply.sh: no overlay '$env_name' in $here/overlays" >&2
  usage
}

# The overlays list the base's files, which sit above them: loading them needs LoadRestrictionsNone.
if command -v kubectl >/dev/null 2>&1; then
  render=(kubectl kustomize --load-restrictor LoadRestrictionsNone "$overlay")
elif command -v kustomize >/dev/null 2>&1; then
  render=(kustomize build --load-restrictor LoadRestrictionsNone "$overlay")
else
  echo "apply.sh: needs kubectl (https://kubernetes.io/docs/tasks/tools/) or kustomize on PATH" >&2
  exit 1
fi
manifests=$("${render[@]}")

if [ "$mode" = render ]; then
  printf '%s\n' "$manifests"
  exit 0
fi
command -v kubectl >/dev/null 2>&1 || {
  echo "apply.sh: applying needs kubectl on PATH" >&2
  exit 1
}

# The namespace the overlay deploys to (its Namespace object).
namespace=$(printf '%s\n' "$manifests" | awk '
  /^kind: Namespace$/ { ns = 1 }
  /^---/ { ns = 0 }
  ns && /^  name: / { print $2; exit }')
[ -n "$namespace" ] || {
  echo "apply.sh: the rendered manifests have no Namespace" >&2
  exit 1
}

# Credentials are never part of the manifests outside dev: the Secret must exist.
if ! printf '%s\n' "$manifests" | grep -q '^kind: Secret$'; then
  if ! kubectl get namespace "$namespace" >/dev/null 2>&1 ||
    ! kubectl -n "$namespace" get secret aria-secrets >/dev/null 2>&1; then
    cat >&2 <<MSG
apply.sh: the Secret aria-secrets does not exist in namespace $namespace. Create it first, e.g.
  kubectl create namespace $namespace
  kubectl -n $namespace create secret generic aria-secrets \\
    --from-file=openai-api-key=./openai.key --from-file=anthropic-api-key=./anthropic.key \\
    --from-file=api-keys=./api-keys --from-file=icc-signing-key=./icc.key
(docs/operations.md, "Credentials")
MSG
    exit 1
  fi
fi

if [ "$mode" = dry-run ]; then
  printf '%s\n' "$manifests" | kubectl apply --dry-run=server -f -
  exit 0
fi
printf '%s\n' "$manifests" | kubectl apply -f -
kubectl -n "$namespace" rollout status statefulset/aria-redis --timeout=5m
kubectl -n "$namespace" rollout status deployment/aria-api --timeout=5m
kubectl -n "$namespace" rollout status deployment/aria-worker --timeout=5m
echo "apply.sh: $env_name applied to namespace $namespace"
