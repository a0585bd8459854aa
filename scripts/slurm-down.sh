#!/usr/bin/env bash
# Stop the daemons scripts/slurm-up.sh started (only those, by the pids it recorded).
set -euo pipefail
STATE=${BRAINBENCH_SLURM_DIR:-/tmp/brainbench-slurm}
[ -f "$STATE/pids" ] || exit 0
while read -r pid; do
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
done < "$STATE/pids"
for _ in $(seq 1 20); do
  alive=0
  while read -r pid; do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1; done < "$STATE/pids"
  [ $alive = 0 ] && break
  sleep 0.25
done
while read -r pid; do [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; done < "$STATE/pids"
rm -f "$STATE/pids"
