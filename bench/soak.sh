#!/usr/bin/env bash
# Memory soak of `loupe server` with the embedded store (issue 10, "Memory
# plateaus"): starts build/loupe on loopback with a fresh data directory,
# drives it with build/otlp_load at a steady rate for SOAK_MINUTES, samples
# the server's RSS every SOAK_SAMPLE_SECONDS into a CSV, and prints the RSS
# at minute SOAK_BASELINE_MINUTES, at the end, and their ratio. Fails (exit
# 1) when the end is more than SOAK_TOLERANCE (10 %) above the baseline.
#
# RSS follows a sawtooth: a memtable grows to --memtable-mb (64 MiB; ~2 KB a
# transaction of this load) and is freed by its flush, at the latest at each
# 5-minute checkpoint, with a short peak while the flush writes. A single
# sample depends on where in that cycle it falls, so each sample also records
# the peak RSS since the previous one (VmHWM, reset through
# /proc/PID/clear_refs), and "RSS at minute m" is the highest peak of the
# SOAK_WINDOW_SECONDS (300: at least one whole cycle) up to minute m, "the
# end" the highest of the last window; the samples at those moments are
# printed too.
#
#   bench/soak.sh                                    # 30 minutes, the recorded run
#   SOAK_MINUTES=6 SOAK_BASELINE_MINUTES=2 bench/soak.sh   # a short check
#
# Environment (defaults):
#   SOAK_MINUTES=30  SOAK_BASELINE_MINUTES=5  SOAK_SAMPLE_SECONDS=10
#   SOAK_RATE=4            requests a second (50 traces × 10 spans each: 2,000 spans/s)
#   SOAK_TRACES=50         traces a request
#   SOAK_UNIQUE_USERS=1    every trace a new user id and client IP
#   SOAK_TOLERANCE=0.10    SOAK_WINDOW_SECONDS=300
#   SOAK_CSV=soak-rss.csv  elapsed_s,rss_kib,peak_kib,anon_kib,file_kib,spans_ok (a row a sample)
#   LOUPE_BIN=build/loupe  OTLP_LOAD_BIN=build/otlp_load (cmake --build build --target otlp_load)
#   SOAK_SERVER_ARGS=""    extra `loupe server` flags
# Needs: bash, curl, awk; Linux /proc.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=${SOAK_MINUTES:-30}
BASELINE_MINUTES=${SOAK_BASELINE_MINUTES:-5}
SAMPLE=${SOAK_SAMPLE_SECONDS:-10}
RATE=${SOAK_RATE:-4}
TRACES=${SOAK_TRACES:-50}
UNIQUE=${SOAK_UNIQUE_USERS:-1}
TOLERANCE=${SOAK_TOLERANCE:-0.10}
WINDOW=${SOAK_WINDOW_SECONDS:-300}
CSV=${SOAK_CSV:-soak-rss.csv}
LOUPE_BIN=${LOUPE_BIN:-$ROOT/build/loupe}
OTLP_LOAD_BIN=${OTLP_LOAD_BIN:-$ROOT/build/otlp_load}

[[ -x $LOUPE_BIN ]] || { echo "soak: $LOUPE_BIN missing (make build)" >&2; exit 2; }
[[ -x $OTLP_LOAD_BIN ]] || {
  echo "soak: $OTLP_LOAD_BIN missing (cmake --build build --target otlp_load)" >&2
  exit 2
}
if ((BASELINE_MINUTES >= MINUTES)); then
  echo "soak: SOAK_BASELINE_MINUTES must be below SOAK_MINUTES" >&2
  exit 2
fi

DATA=$(mktemp -d /tmp/loupe-soak.XXXXXX)
SERVER_PID=
LOAD_PID=
cleanup() {
  [[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null || true
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA" "$DATA.log" "$DATA.load"
}
trap cleanup EXIT

free_port() {
  # A port nobody listens on (the kernel picks one; a race is harmless here).
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
HTTP_PORT=$(free_port)
OTLP_PORT=$(free_port)
GRPC_PORT=$(free_port)

# shellcheck disable=SC2086
"$LOUPE_BIN" server --bind 127.0.0.1 --data-dir "$DATA" --http-port "$HTTP_PORT" \
  --otlp-http-port "$OTLP_PORT" --otlp-grpc-port "$GRPC_PORT" --log-level warn \
  ${SOAK_SERVER_ARGS:-} >"$DATA.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  [[ -s $DATA/initial-credentials.json ]] && curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" \
    >/dev/null 2>&1 && break
  sleep 0.1
done
KEY=$(sed -n 's/.*"ingest_key": *"\([^"]*\)".*/\1/p' "$DATA/initial-credentials.json")
[[ -n $KEY ]] || { echo "soak: the server did not start:" >&2; cat "$DATA.log" >&2; exit 2; }

SECONDS_TOTAL=$((MINUTES * 60))
"$OTLP_LOAD_BIN" --port "$OTLP_PORT" --key "$KEY" --seconds "$SECONDS_TOTAL" --rate "$RATE" \
  --traces-per-request "$TRACES" --unique-users "$UNIQUE" --connections 2 \
  >"$DATA.load" 2>&1 &
LOAD_PID=$!

status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status"; }
spans_ok() {
  curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null |
    awk '/^loupe_ingest_spans_received_total/ { s += $2 } END { printf "%d", s }'
}

peak_kib() {
  local p
  p=$(status_kib VmHWM)
  echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null || true  # the next peak starts now
  echo "$p"
}

echo "elapsed_s,rss_kib,peak_kib,anon_kib,file_kib,spans_ok" >"$CSV"
echo "soak: $MINUTES min at $RATE requests/s × $TRACES traces × 10 spans" \
  "(unique users: $UNIQUE), server pid $SERVER_PID, samples in $CSV"
START=$(date +%s)
while :; do
  NOW=$(date +%s)
  ELAPSED=$((NOW - START))
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "soak: the server died" >&2; cat "$DATA.log" >&2; exit 1; }
  RSS=$(status_kib VmRSS)
  echo "$ELAPSED,$RSS,$(peak_kib),$(status_kib RssAnon),$(status_kib RssFile),$(spans_ok)" >>"$CSV"
  ((ELAPSED % 60 < SAMPLE)) && echo "soak: minute $((ELAPSED / 60)) RSS $((RSS / 1024)) MiB"
  ((ELAPSED >= SECONDS_TOTAL)) && break
  sleep "$SAMPLE"
done
wait "$LOAD_PID" || true
LOAD_PID=
echo "soak: load: $(cat "$DATA.load")"
awk -F, -v bm="$BASELINE_MINUTES" -v t="$TOLERANCE" -v w="$WINDOW" -v last="$ELAPSED" '
  NR == 1 { next }
  {
    s = $1; r = $2; p = $3
    if (s <= bm * 60) { bsample = r; if (s > bm * 60 - w && p > b) b = p }
    if (s > last - w && p > e) e = p
    esample = r
  }
  END {
    ratio = e / b
    printf "soak: RSS at minute %d %.1f MiB (peak of the %d s before; sample %.1f MiB)\n",
           bm, b / 1024, w, bsample / 1024
    printf "soak: RSS at the end (%d s) %.1f MiB (peak of the last %d s; sample %.1f MiB)\n",
           last, e / 1024, w, esample / 1024
    printf "soak: ratio %.3f (limit %.2f)\n", ratio, 1 + t
    exit (ratio <= 1 + t) ? 0 : 1
  }' "$CSV" && echo "soak: PASS" || { echo "soak: FAIL: RSS did not plateau" >&2; exit 1; }
