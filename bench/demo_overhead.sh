#!/usr/bin/env bash
# CPU cost of the C++ agent in a real application: runs the demo services
# twice side by side in one run, agent on (exporting to a real `loupe server`)
# and agent off (enabled=false), each driven by its own traffic generator at
# the same flat rate, and reports the CPU seconds (utime+stime from
# /proc/PID/stat) the services process used in the measured window.
#
# Usage: bench/demo_overhead.sh [build-dir] ; environment: TPS (1000),
# SECONDS_MEASURED (60), WARMUP (10). Budget: on/off - 1 <= 2 %.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
TPS=${TPS:-1000}
MEASURE=${SECONDS_MEASURED:-60}
WARMUP=${WARMUP:-10}
LOUPE_BIN=${LOUPE_BIN:-$BUILD_DIR/loupe}
DEMO_BIN=${LOUPE_DEMO_BIN:-$BUILD_DIR/demo/loupe-demo}
for b in "$LOUPE_BIN" "$DEMO_BIN"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

work=$(mktemp -d /tmp/loupe-demo-bench-XXXXXX)
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

base=$((20000 + RANDOM % 20000))
http=$base; otlp=$((base + 1)); grpc=$((base + 2)); on_port=$((base + 10)); off_port=$((base + 20))

"$LOUPE_BIN" server --data-dir "$work/data" --http-port "$http" --otlp-http-port "$otlp" \
  --otlp-grpc-port "$grpc" --bind 127.0.0.1 >"$work/server.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 300; i++)); do
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$http/healthz" 2>/dev/null && break
  sleep 0.1
done
key=$(sed -n 's/.*"ingest_key"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$work/data/initial-credentials.json")

start_services() {  # agent port suffix
  LOUPE_INGEST_KEY=$key "$DEMO_BIN" services --agent "$1" --port "$2" --instance-suffix "$3" \
    --data-dir "$work/app-$1" --otlp-endpoint "http://127.0.0.1:$otlp" --fault-schedule none \
    --workers 64 --status-seconds 0 >"$work/services-$1.log" 2>&1 &
  pids+=($!)
}
start_services on "$on_port" bench-on
on_pid=${pids[-1]}
start_services off "$off_port" bench-off
off_pid=${pids[-1]}
for p in $on_port $off_port; do
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$p/healthz" 2>/dev/null && break
    sleep 0.1
  done
done
for p in $on_port $off_port; do
  "$DEMO_BIN" traffic --shop-url "http://127.0.0.1:$p" --tps "$TPS" --rhythm flat \
    --fault-schedule none --senders 128 --status-seconds $((WARMUP + MEASURE)) \
    >"$work/traffic-$p.log" 2>&1 &
  pids+=($!)
done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # clock ticks, utime + stime
tick=$(getconf CLK_TCK)
sleep "$WARMUP"
on0=$(cpu "$on_pid"); off0=$(cpu "$off_pid")
sleep "$MEASURE"
on1=$(cpu "$on_pid"); off1=$(cpu "$off_pid")
sleep 1
stats_on=$(curl -fsS "http://127.0.0.1:$on_port/admin/agent")
tx_on=$(curl -fsS "http://127.0.0.1:$on_port/admin/agent" | sed -n 's/.*"transactions":\([0-9]*\).*/\1/p')

awk -v a="$((on1 - on0))" -v b="$((off1 - off0))" -v t="$tick" -v s="$MEASURE" -v tps="$TPS" '
  BEGIN {
    on = a / t; off = b / t;
    printf "demo services at %d req/s (shop -> orders -> payment), %d s measured after warm-up\n", tps, s;
    printf "  agent on  (exporting): %.2f CPU s (%.1f %% of a core)\n", on, 100 * on / s;
    printf "  agent off (disabled):  %.2f CPU s (%.1f %% of a core)\n", off, 100 * off / s;
    printf "  on/off = %.4f  (overhead %+.2f %%; budget <= 2 %%)\n", on / off, 100 * (on / off - 1);
  }'
echo "  shop agent: $stats_on"
grep -h 'traffic:' "$work"/traffic-*.log | tail -2 | sed 's/^/  /' || true
