#!/usr/bin/env bash
# Ingest throughput with and without the durable ingest log, side by side in
# one run (issue 3): the same otlp_load against `--store memory` (acks after
# the in-memory store) and `--store embedded` (acks after the group-committed
# fsync of the log), alternating, RUNS times each. Then the recovery time of a
# log of LOG_MB MiB (no checkpoint in between): load until the log holds it,
# SIGKILL, restart, time until /healthz answers. REPLAYS restarts the same
# crashed directory (restored from a copy each time) that many times; with
# COMPARE_BUILD (another build directory, e.g. of an older commit) each
# restart is followed by one of that binary, for a same-session ratio.
# After the throughput runs it prints, per store, the medians of spans/s (wall)
# and spans per server CPU second, and the embedded/memory ratio of the
# medians; LOG_MB=0 skips the recovery part.
#
#   bench/ingest_durability.sh [BUILD_DIR]
#     env: RUNS=3 SECONDS_PER_RUN=8 LOG_MB=1024 REPLAYS=1 COMPARE_BUILD=
#   RUNS=8 LOG_MB=0 bench/ingest_durability.sh                                  (throughput only)
#   RUNS=0 REPLAYS=3 COMPARE_BUILD=/tmp/old/build bench/ingest_durability.sh   (recovery only)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-8}
LOG_MB=${LOG_MB:-1024}
REPLAYS=${REPLAYS:-1}
COMPARE_BUILD=${COMPARE_BUILD:-}
LOUPE=$BUILD/loupe
LOAD=$BUILD/otlp_load
[ -x "$LOUPE" ] && [ -x "$LOAD" ] || { echo "build first: cmake --build $BUILD --target loupe otlp_load"; exit 2; }
WORK=$(mktemp -d /tmp/loupe-durability-XXXXXX)
PID=
trap '{ [ -z "$PID" ] || kill "$PID" 2>/dev/null; } || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # start DIR STORE [extra args] → sets PID, HTTP, OTLP
  local dir=$1 store=$2; shift 2
  # A free port can be taken by someone else before the server binds it:
  # then start again on new ports.
  for _ in 1 2 3; do
    HTTP=$(free_port); OTLP=$(free_port)
    taskset -c "${CPUS:-0}" "${BIN:-$LOUPE}" server --data-dir "$dir" --store "$store" --bind 127.0.0.1 \
      --http-port "$HTTP" --otlp-http-port "$OTLP" --otlp-grpc-port "$(free_port)" "$@" >"$dir.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 2000); do
      kill -0 "$PID" 2>/dev/null || break
      curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && return 0
      sleep 0.01
    done
    wait "$PID" 2>/dev/null || true
    PID=
    grep -q 'Address already in use' "$dir.log" || break
  done
  echo "server did not start"; cat "$dir.log"; exit 1
}
key() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ingest_key"])' "$1/initial-credentials.json"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  for store in memory embedded; do
    dir=$WORK/$store-$run
    mkdir -p "$dir"
    start "$dir" "$store"
    k=$(key "$dir")
    out=$(taskset -c 1 "$LOAD" --port "$OTLP" --key "$k" --seconds "$SECS" --connections 8 --pid "$PID" || true)
    echo "run $run store=$store load=$(cut -d' ' -f1 /proc/loadavg) $out" | tee -a "$WORK/runs.txt"
    kill "$PID"; wait "$PID" || true
    PID=
    rm -rf "$dir"
  done
done
if [ "$RUNS" -gt 0 ]; then
  python3 - "$WORK/runs.txt" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r'(\w+)=([\w.]+)', line))
    runs.setdefault(f['store'], []).append(f)
med = {}
for store, rs in runs.items():
    wall = statistics.median(float(r['spans_per_s']) for r in rs)
    cpu = [float(r['spans_per_server_cpu_s']) for r in rs if 'spans_per_server_cpu_s' in r]
    loads = [float(r['load']) for r in rs]
    med[store] = statistics.median(cpu) if cpu else 0
    print(f"median store={store} runs={len(rs)} spans_per_s={wall:.0f} "
          f"spans_per_server_cpu_s={med[store]:.0f} (min {min(cpu):.0f}, max {max(cpu):.0f}) "
          f"load {min(loads):.2f}-{max(loads):.2f}")
if med.get('memory'):
    print(f"embedded/memory (medians of spans per server CPU s): {med.get('embedded', 0) / med['memory']:.2f}")
PY
fi
[ "$LOG_MB" -gt 0 ] || exit 0

# Recovery of a LOG_MB log.
dir=$WORK/recovery
mkdir -p "$dir"
start "$dir" embedded --checkpoint-mb 1048576 --checkpoint-seconds 86400
k=$(key "$dir")
while [ "$(du -sm "$dir/wal" | cut -f1)" -lt "$LOG_MB" ]; do
  taskset -c 1 "$LOAD" --port "$OTLP" --key "$k" --seconds 5 --connections 8 >/dev/null || true
done
log_mb=$(du -sm "$dir/wal" | cut -f1)
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
PID=
cp -a "$dir" "$dir.crashed"
for replay in $(seq 1 "$REPLAYS"); do
  for bin in "$LOUPE" ${COMPARE_BUILD:+"$COMPARE_BUILD/loupe"}; do
    rm -rf "$dir"; cp -a "$dir.crashed" "$dir"
    t0=$(date +%s.%N)
    BIN=$bin CPUS=0-$(($(nproc) - 1)) start "$dir" embedded  # recovery replays on every core
    t1=$(date +%s.%N)
    echo "recovery ($bin, load $(cut -d' ' -f1 /proc/loadavg)): log ${log_mb} MiB; SIGKILL → restart → /healthz in $(python3 -c "print(f'{$t1-$t0:.2f}')") s"
    grep -m1 "recovered the ingest log" "$dir.log" || true
    kill "$PID"; wait "$PID" || true
    PID=
  done
done
