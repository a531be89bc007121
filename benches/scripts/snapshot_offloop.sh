#!/usr/bin/env bash
# Client latency while the KV nodes snapshot a large state (issue 12), see docs/performance.md.
#   snapshot_offloop.sh prefill RAFTKV DIR       3-node cluster data in DIR/data: ~100 MB of state
#   snapshot_offloop.sh run RAFTKV DIR OUT       copy of DIR/data, small threshold, bench; OUT/*
# Env: BENCH (the raftkv that runs the load; default RAFTKV), THRESHOLD (2M), CLIENTS (16),
# DURATION (20), PORT (17400), EXTRA (more cluster options, e.g. --persist-thread).
set -euo pipefail
cmd=$1 bin=$2 dir=$3
port=${PORT:-17400}
bench=${BENCH:-$bin}
servers=127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))

start() { # data-dir threshold log
  "$bin" cluster --nodes 3 --base-port "$port" --data-dir "$1" --insecure \
    --snapshot-threshold "$2" ${EXTRA:-} 2>"$3" &
  pid=$!
  for _ in $(seq 100); do
    "$bin" put --cluster "$servers" --insecure probe x >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "cluster did not answer" >&2
  return 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }

case $cmd in
prefill)
  rm -rf "$dir" && mkdir -p "$dir"
  start "$dir/data" 64M "$dir/prefill.log"
  # 2,000 keys of 50,000 bytes: about 100 MB of map.
  "$bench" bench --cluster "$servers" --insecure --clients 16 --duration 20 \
    --keys 2000 --value-size 50000 | tee "$dir/prefill.txt"
  stop
  ;;
run)
  out=$4
  rm -rf "$out" && mkdir -p "$out"
  cp -r "$dir/data" "$out/data"
  start "$out/data" "${THRESHOLD:-2M}" "$out/cluster.log"
  "$bench" bench --cluster "$servers" --insecure --clients "${CLIENTS:-16}" \
    --duration "${DURATION:-20}" | tee "$out/bench.txt"
  stop
  grep -o 'snapshot taken.*' "$out/cluster.log" | sed 's/\x1b\[[0-9;]*m//g' >"$out/snapshots.txt" || true
  echo "snapshots: $(wc -l <"$out/snapshots.txt")"
  rm -rf "$out/data"
  ;;
esac
