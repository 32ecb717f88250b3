#!/usr/bin/env bash
# Re-runs the measurements behind the summary table of docs/benchmarks.md and
# prints, for each, the command, the load average before and after, and the
# medians, so the table can be refreshed on a quiet machine.
#
#   bench/run-summary.sh [SECTION...]        (default: every section but web)
#     env: RUNS=8 (runs of the tools that measure once per call: ingest,
#          live, demo; repetitions of the Google Benchmark tools)
#          CH_RUNS=1 (ClickHouse side-by-side runs, ~20 min each)
#          REPLAYS=3 (restarts of one crashed 1 GiB log)  BUILD=build
#
# Sections, in the order of the summary table's rows:
#   ingest      ingest end to end, memory and embedded store (rows 1 and 10)
#   live        live stream and query API after the acknowledgement (rows 2-3)
#   api         transactions and X-View through the API over an hour (rows 4-5)
#   query       query layer over an hour in MemStore, with the load rate (row 5)
#   store       compacted hour: scatter and total bytes, ComputeXView (rows 6-8)
#   recovery    SIGKILL -> healthy with a 1 GiB ingest log (row 11)
#   durable     BM_DurableAppend, 8 and 32 threads (row 12)
#   rollup      endpoints and 24-hour series from rollups (rows 13-14)
#   clickhouse  the embedded engine side by side with ClickHouse (rows 9, 13, 15)
#   agent       C++ agent costs on the application thread (rows 20-22)
#   demo        demo at 1,000 TPS, agent on vs off and off vs off (row 23)
#   web         X-View of 1 M points, dashboard usable time, live CPU (rows 16-19);
#               needs Chromium and `npm ci` in web/, so only when asked for
#
# Everything talks to 127.0.0.1 only. Needs python3; builds what is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
RUNS=${RUNS:-8}
CH_RUNS=${CH_RUNS:-1}
REPLAYS=${REPLAYS:-3}
OUT=$(mktemp -d /tmp/loupe-summary-XXXXXX)
trap 'rm -rf "$OUT"' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
header() {
  echo
  echo "== $1 ($(date -u '+%Y-%m-%d %H:%M UTC'), load $(load), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?))"
  echo "\$ $2"
}
need() { cmake --build "$BUILD" --target "$@" >/dev/null || { echo "build of $* failed"; return 1; }; }

# Medians (and min/max) of a Google Benchmark JSON file written with
# --benchmark_repetitions and without aggregates only; DROP_FIRST=1 drops the
# first repetition of each benchmark (a cold run); P99=1 adds the p99.
gb_summary() {
  python3 - "$1" <<'PY'
import json, math, os, statistics, sys
d = json.load(open(sys.argv[1]))
drop = os.environ.get('DROP_FIRST') == '1'
runs = {}
for b in d['benchmarks']:
    if b.get('run_type') == 'aggregate':
        continue
    runs.setdefault(b['run_name'], []).append(b)
for name, rs in runs.items():
    if drop and len(rs) > 1:
        rs = rs[1:]
    unit = rs[0].get('time_unit', 'ns')
    real = sorted(r['real_time'] for r in rs)
    cpu = sorted(r['cpu_time'] for r in rs)
    line = (f"  {name}: median wall {statistics.median(real):.4g} {unit}, CPU "
            f"{statistics.median(cpu):.4g} {unit} (wall min {real[0]:.4g}, max {real[-1]:.4g}; "
            f"{len(rs)} runs)")
    if os.environ.get('P99') == '1':
        p99 = real[max(0, math.ceil(0.99 * len(real)) - 1)]
        line += f", wall p99 {p99:.4g} {unit}"
    skip = {'name', 'run_name', 'run_type', 'repetitions', 'repetition_index', 'threads',
            'iterations', 'real_time', 'cpu_time', 'time_unit', 'family_index',
            'per_family_instance_index', 'aggregate_name', 'aggregate_unit', 'label'}
    counters = {k for r in rs for k in r if k not in skip and isinstance(r[k], (int, float))}
    for k in sorted(counters):
        line += f"; {k} {statistics.median(r[k] for r in rs if k in r):.4g}"
    print(line)
PY
}

# Runs a Google Benchmark binary with RUNS repetitions and prints the medians.
gb() {  # gb NAME BINARY ARGS...
  local name=$1 bin=$2; shift 2
  header "$name" "$bin --benchmark_repetitions=$RUNS $*"
  "$bin" --benchmark_repetitions="$RUNS" --benchmark_format=json \
    --benchmark_out="$OUT/$name.json" --benchmark_out_format=json "$@" >/dev/null 2>"$OUT/$name.err"
  grep -v '^\s*$' "$OUT/$name.err" | grep -vi 'warning\|\*\*\*' | head -5 | sed 's/^/  stderr: /'
  gb_summary "$OUT/$name.json"
}

section_ingest() {
  need loupe otlp_load || return
  header ingest "RUNS=$RUNS LOG_MB=0 bench/ingest_durability.sh"
  RUNS=$RUNS LOG_MB=0 bench/ingest_durability.sh "$BUILD" | grep -E '^(machine|median|embedded/memory)'
}

section_live() {
  need loupe || return
  if [ ! -d tests/integration/node_modules ]; then
    (cd tests/integration && npm ci --silent) || { echo "live: npm ci failed"; return; }
  fi
  header live "node bench/live_latency.mjs 1000 10   (x $RUNS)"
  for _ in $(seq "$RUNS"); do
    LOUPE_BIN=$ROOT/$BUILD/loupe node bench/live_latency.mjs 1000 10 2>/dev/null | grep -E '^(live|api):'
  done | tee "$OUT/live.txt"
  python3 - "$OUT/live.txt" <<'PY'
import re, statistics, sys
v = {}
for line in open(sys.argv[1]):
    side = line.split(':')[0]
    for k, x in re.findall(r'(p50|p99)=([\d.]+) ms', line):
        v.setdefault(f'{side} {k}', []).append(float(x))
print('  medians: ' + ', '.join(f'{k} {statistics.median(x):.1f} ms' for k, x in v.items()))
PY
}

section_api() {
  need api_xview_benchmark || return
  gb api "$BUILD/api_xview_benchmark"
}

section_query() {
  need query_benchmark || return
  header query-load "$BUILD/query_benchmark --benchmark_filter=NONE   (x $RUNS: the load rate)"
  for _ in $(seq "$RUNS"); do
    "$BUILD/query_benchmark" --benchmark_filter=NONE 2>&1 | grep -E 'tx/s|per transaction'
  done | tee "$OUT/load.txt"
  python3 - "$OUT/load.txt" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
for label, pat in (('tx/s (wall)', r'\(([\d.]+) tx/s\)'), ('tx per CPU s', r'\(([\d.]+) tx per CPU s\)')):
    r = [float(x) for x in re.findall(pat, text)]
    if r:
        print(f"  median load rate {statistics.median(r):.0f} {label} (min {min(r):.0f}, max {max(r):.0f}; {len(r)} runs)")
PY
  gb query "$BUILD/query_benchmark"
}

section_store() {
  need store_append_benchmark || return
  # The first run builds and compacts the hour (and prints its bytes: B/tx,
  # B/span, scatter columns B/tx); LOUPE_BENCH_REUSE=1 keeps it for the rest.
  header store "LOUPE_BENCH_REUSE=1 $BUILD/store_append_benchmark --benchmark_filter='BM_ComputeXViewHour(Cached)?/3' --benchmark_min_time=0.001 --benchmark_repetitions=41"
  LOUPE_BENCH_REUSE=1 "$BUILD/store_append_benchmark" --benchmark_filter='BM_ComputeXViewHour(Cached)?/3' \
    --benchmark_min_time=0.001 --benchmark_repetitions=41 --benchmark_format=json \
    --benchmark_out="$OUT/store.json" --benchmark_out_format=json >/dev/null 2>"$OUT/store.err"
  grep -E 'hour \(' "$OUT/store.err" | sed 's/^/  /'
  DROP_FIRST=1 P99=1 gb_summary "$OUT/store.json"
}

section_recovery() {
  need loupe otlp_load || return
  header recovery "RUNS=0 REPLAYS=$REPLAYS LOG_MB=1024 bench/ingest_durability.sh"
  RUNS=0 REPLAYS=$REPLAYS LOG_MB=1024 bench/ingest_durability.sh "$BUILD" | tee "$OUT/rec.txt" | grep -E '^recovery'
  python3 - "$OUT/rec.txt" <<'PY'
import re, statistics, sys
t = [float(x) for x in re.findall(r'/healthz in ([\d.]+) s', open(sys.argv[1]).read())]
if t:
    print(f"  median SIGKILL -> healthy {statistics.median(t):.2f} s ({len(t)} restarts)")
PY
}

section_durable() {
  need store_append_benchmark || return
  gb durable "$BUILD/store_append_benchmark" --benchmark_filter=BM_DurableAppend --benchmark_min_time=2
}

section_rollup() {
  need rollup_benchmark || return
  gb rollup "$BUILD/rollup_benchmark"
}

section_clickhouse() {
  need clickhouse_compare || return
  for run in $(seq "$CH_RUNS"); do
    header "clickhouse $run/$CH_RUNS" "bench/clickhouse_side_by_side.sh"
    BUILD=$ROOT/$BUILD bench/clickhouse_side_by_side.sh >"$OUT/ch-$run.txt" 2>&1
    echo "  exit status $? ($(grep -c 'check FAIL' "$OUT/ch-$run.txt") failed checks)"
    sed -n '/== Loupe vs ClickHouse/,$p' "$OUT/ch-$run.txt"
  done
  if [ "$CH_RUNS" -gt 1 ]; then
    python3 - "$OUT"/ch-*.txt <<'PY'
import re, statistics, sys
adv = {}
for f in sys.argv[1:]:
    for m in re.finditer(r'^\| (.+?)\s+\|.*\|\s+([\d.]+)x \|$', open(f).read(), re.M):
        adv.setdefault(m.group(1), []).append(float(m.group(2)))
print('  medians of the advantage over the runs:')
for k, v in adv.items():
    print(f'  {k}: {statistics.median(v):.2f}x ({", ".join(f"{x:.2f}" for x in v)})')
PY
  fi
}

section_agent() {
  need loupe_agent_benchmark || return
  gb agent "$BUILD/agents/cpp/loupe_agent_benchmark"
  LOUPE_BENCH_QUEUE=8192 LOUPE_BENCH_QUEUE_BYTES=8388608 gb agent-defaults "$BUILD/agents/cpp/loupe_agent_benchmark"
}

section_demo() {
  need loupe loupe-demo || return
  header demo "bench/demo_overhead.sh; CALIBRATE=1 bench/demo_overhead.sh   (alternately, x $RUNS)"
  for _ in $(seq "$RUNS"); do
    bench/demo_overhead.sh 2>&1 | grep -E 'on/off|agent threads|note' | sed 's/^/  on vs off: /'
    CALIBRATE=1 bench/demo_overhead.sh 2>&1 | grep -E 'on/off|note' | sed 's/^/  off vs off: /'
  done | tee "$OUT/demo.txt"
  python3 - "$OUT/demo.txt" <<'PY'
import re, statistics, sys
v = {}
for line in open(sys.argv[1]):
    m = re.search(r'^\s*(on vs off|off vs off):\s+on/off = [\d.]+\s+\(overhead ([-+\d.]+) %', line)
    if m:
        v.setdefault(m.group(1), []).append(float(m.group(2)))
for k, x in v.items():
    print(f"  median total-CPU difference, {k}: {statistics.median(x):+.2f} % ({len(x)} runs)")
PY
}

section_web() {
  need loupe || return
  header web "cd web && npm run bench; REAL=1 node e2e/bench.mjs; node e2e/bench-live.mjs 3 1000 15 [180000]"
  (cd web && npm run bench && REAL=1 node e2e/bench.mjs && node e2e/bench-live.mjs 3 1000 15 &&
    node e2e/bench-live.mjs 3 1000 15 180000) 2>&1 | tail -60
}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(ingest live api query store recovery durable rollup clickhouse agent demo)
echo "bench/run-summary.sh: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), RUNS=$RUNS, load $(load)"
for s in "${sections[@]}"; do
  if declare -F "section_$s" >/dev/null; then "section_$s"; else echo "unknown section $s"; fi
done
echo
echo "done $(date -u '+%H:%M UTC'), load $(load)"
