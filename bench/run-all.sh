#!/usr/bin/env bash
# Runs every benchmark under bench/ in one go, each printing its own table and writing its JSON
# under bench/results/, then prints a summary table and writes bench/results/run-all.json.
#
#   bash bench/run-all.sh                 # every benchmark
#   bash bench/run-all.sh engines peers   # only those (names: bundles containers engines llm peers)
#
# Benchmarks found: bench/<area>/*.bench.ts and bench/peers/index.ts. The containers benchmark
# needs a reachable dockerd and the aria-tool-runner image; the llm benchmark starts a private
# redis-server. A benchmark that fails is reported and the others still run; the exit code is 1
# when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=../scripts/toolchain.sh
source scripts/toolchain.sh || exit 1

declare -a names=() files=()
for file in bench/*/*.bench.ts; do
  [ -e "$file" ] || continue
  area=${file#bench/}
  names+=("${area%%/*}")
  files+=("$file")
done
if [ -f bench/peers/index.ts ]; then
  names+=(peers)
  files+=(bench/peers/index.ts)
fi

selected=("$@")
logs=$(mktemp -d)
mkdir -p bench/results
summary=()
json_rows=()
failed=0
for i in "${!names[@]}"; do
  name=${names[$i]}
  file=${files[$i]}
  if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " == *" $name "* ]]; then continue; fi
  echo
  echo "==> $name ($file)"
  marker="$logs/$name.start"
  touch "$marker"
  started=$(date +%s.%N)
  node --expose-gc --conditions=@aria/source --import tsx "$file" 2>&1 | tee "$logs/$name.log"
  code=${PIPESTATUS[0]}
  seconds=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  # Each benchmark writes bench/results/<name>.json (other processes may write other files meanwhile).
  written=""
  [ "bench/results/$name.json" -nt "$marker" ] && written="$name.json"
  if [ "$code" -eq 0 ]; then status=ok; else status="failed ($code)"; failed=$((failed + 1)); fi
  summary+=("$(printf '%-12s %-14s %8s s  %s' "$name" "$status" "$seconds" "${written:-"-"}")")
  json_rows+=("{\"name\":\"$name\",\"file\":\"$file\",\"status\":\"$status\",\"seconds\":$seconds,\"results\":\"${written}\"}")
done

echo
echo "==> summary"
printf '%-12s %-14s %10s  %s\n' benchmark status time "results (bench/results/)"
printf '%-12s %-14s %10s  %s\n' ------------ -------------- ---------- -------------------------
for line in "${summary[@]}"; do echo "$line"; done
{
  printf '{\n  "date": "%s",\n  "node": "%s",\n  "benchmarks": [\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(node --version)"
  for j in "${!json_rows[@]}"; do
    sep=","
    [ "$j" -eq $((${#json_rows[@]} - 1)) ] && sep=""
    printf '    %s%s\n' "${json_rows[$j]}" "$sep"
  done
  printf '  ]\n}\n'
} > bench/results/run-all.json
echo "wrote bench/results/run-all.json (logs in $logs)"
[ "$failed" -eq 0 ] || exit 1
