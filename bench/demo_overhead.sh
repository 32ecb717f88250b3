#!/usr/bin/env bash
# CPU cost of the C++ agent in a real application: runs the demo services
# twice side by side in one run, agent on (exporting to a real `loupe server`)
# and agent off (enabled=false), each driven by its own traffic generator at
# the same flat rate, and reports the CPU seconds (utime+stime from
# /proc/PID/stat, all threads, so the agent's exporter and snapshot threads
# count) the services process used in the measured window.
#
# Only the services processes are the application. The Loupe server, which
# receives the "on" side's data, and the two traffic generators run on the
# same machine; their CPU is reported for information, never added to either
# side (they compete for the same cores, equally for both sides).
#
# The budget is about the same work on both sides: each side's requests in
# the window (process_requests of /admin/agent) are counted too, and CPU per
# request is compared as well. When a side served less than 95 % of the
# target rate (an overloaded machine), the raw ratio is biased and the
# per-request ratio is the one to read; the script says so.
#
# Usage: bench/demo_overhead.sh [build-dir] ; environment: TPS (1000),
# SECONDS_MEASURED (60), WARMUP (10), CALIBRATE (0; 1: both sides with the
# agent off, which measures the noise of the method itself).
# Budget: on/off - 1 <= 2 %.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
TPS=${TPS:-1000}
MEASURE=${SECONDS_MEASURED:-60}
WARMUP=${WARMUP:-10}
CALIBRATE=${CALIBRATE:-0}
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
    --data-dir "$work/app-$3" --otlp-endpoint "http://127.0.0.1:$otlp" --fault-schedule none \
    --workers 64 --status-seconds 0 >"$work/services-$1.log" 2>&1 &
  pids+=($!)
}
on_mode=on
[ "$CALIBRATE" = 1 ] && on_mode=off
start_services "$on_mode" "$on_port" bench-on
on_pid=${pids[-1]}
start_services off "$off_port" bench-off
off_pid=${pids[-1]}
for p in $on_port $off_port; do
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$p/healthz" 2>/dev/null && break
    sleep 0.1
  done
done
traffic_pids=()
for p in $on_port $off_port; do
  "$DEMO_BIN" traffic --shop-url "http://127.0.0.1:$p" --tps "$TPS" --rhythm flat \
    --fault-schedule none --senders 128 --status-seconds $((WARMUP + MEASURE)) \
    >"$work/traffic-$p.log" 2>&1 &
  pids+=($!)
  traffic_pids+=($!)
done
server_pid=${pids[0]}

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # clock ticks, utime + stime
agent_cpu() {  # clock ticks of the agent's own threads (named by the agent) in process $1
  local t=0 d
  for d in /proc/"$1"/task/*; do
    case "$(cat "$d/comm" 2>/dev/null)" in
      loupe-export | loupe-active) t=$((t + $(awk '{print $14 + $15}' "$d/stat" 2>/dev/null || echo 0))) ;;
    esac
  done
  echo "$t"
}
tick=$(getconf CLK_TCK)
requests() {  # port: requests the services process has handled
  curl -fsS --max-time 5 "http://127.0.0.1:$1/admin/agent" |
    sed -n 's/.*"process_requests":\([0-9]*\).*/\1/p'
}
others() {  # CPU ticks of the server and the traffic generators
  local t=0 p
  for p in "$server_pid" "${traffic_pids[@]}"; do t=$((t + $(cpu "$p"))); done
  echo "$t"
}
sleep "$WARMUP"
ag0=$(agent_cpu "$on_pid"); on0=$(cpu "$on_pid"); off0=$(cpu "$off_pid"); rq_on0=$(requests "$on_port"); rq_off0=$(requests "$off_port")
srv0=$(cpu "$server_pid"); oth0=$(others)
sleep "$MEASURE"
ag1=$(agent_cpu "$on_pid"); on1=$(cpu "$on_pid"); off1=$(cpu "$off_pid"); rq_on1=$(requests "$on_port"); rq_off1=$(requests "$off_port")
srv1=$(cpu "$server_pid"); oth1=$(others)
stats_on=$(curl -fsS "http://127.0.0.1:$on_port/admin/agent")

label_on="agent on  (exporting)"
[ "$CALIBRATE" = 1 ] && label_on="agent off (calibration)"
awk -v a="$((on1 - on0))" -v b="$((off1 - off0))" -v t="$tick" -v s="$MEASURE" -v tps="$TPS" \
  -v ra="$((rq_on1 - rq_on0))" -v rb="$((rq_off1 - rq_off0))" -v srv="$((srv1 - srv0))" \
  -v oth="$((oth1 - oth0))" -v ag="$((ag1 - ag0))" -v lon="$label_on" '
  BEGIN {
    on = a / t; off = b / t;
    printf "demo services at %d req/s (shop -> orders -> payment), %d s measured after warm-up\n", tps, s;
    printf "  %s: %.2f CPU s (%.1f %% of a core), %d requests (%.0f/s), %.1f us CPU per request\n",
      lon, on, 100 * on / s, ra, ra / s, (ra > 0 ? 1e6 * on / ra : 0);
    printf "  agent off (disabled):  %.2f CPU s (%.1f %% of a core), %d requests (%.0f/s), %.1f us CPU per request\n",
      off, 100 * off / s, rb, rb / s, (rb > 0 ? 1e6 * off / rb : 0);
    printf "  on/off = %.4f  (overhead %+.2f %%; budget <= 2 %%)\n", on / off, 100 * (on / off - 1);
    if (ra > 0 && rb > 0) {
      r = (on / ra) / (off / rb);
      printf "  per request: on/off = %.4f  (overhead %+.2f %%)\n", r, 100 * (r - 1);
    }
    # Requests count shop, orders and payment, so a side at the target rate
    # handles more than TPS * seconds; fewer means the traffic fell short.
    if (ra < 0.95 * tps * s || rb < 0.95 * tps * s || ra > 1.02 * rb || rb > 1.02 * ra)
      printf "  note: the sides did not both handle the target rate (machine overloaded?); read the per-request ratio\n";
    # Bottom-up, much less noisy than the difference of two processes: the
    # threads of the agent in the "on" process (the exporter encoding and
    # POSTing, the snapshots). The application-thread part (~0.3 us a
    # transaction, bench/agent_benchmark.cc) is not in it.
    if (ag > 0)
      printf "  agent threads (loupe-export + loupe-active) of the on side: %.2f CPU s = %.2f %% of the off side, %.2f us per request\n",
        ag / t, 100 * (ag / t) / off, (ra > 0 ? 1e6 * (ag / t) / ra : 0);
    printf "  not counted: loupe server %.2f CPU s; server + traffic generators %.2f CPU s\n", srv / t, oth / t;
  }'
echo "  shop agent: $stats_on"
grep -h 'traffic:' "$work"/traffic-*.log | tail -2 | sed 's/^/  /' || true
