#!/usr/bin/env bash
# Two builds side by side in one run, for a change that must not slow the
# hot paths (issue 11: "ingest end to end, X-View hour and endpoints hour
# re-measured side by side with the previous commit's binary in one run").
# Alternates the builds (base, new, new, base, ...) ROUNDS times over:
#   ingest   bench/ingest_durability.sh (RUNS=1, embedded and memory store)
#   xview    store_append_benchmark BM_ComputeXViewHour/3 (compacted hour, every row group)
#   endpoints rollup_benchmark BM_EndpointsHour/1 (ragged hour from rollups)
# and prints per build the medians and the ratio new/base (> 1: new is slower
# for times, faster for throughput).
#
#   bench/side_by_side.sh BASE_BUILD NEW_BUILD        env: ROUNDS=3 REPS=3
#   e.g. git worktree add /tmp/base <commit> && (cd /tmp/base && cmake ... && cmake --build build
#        --target loupe otlp_load rollup_benchmark store_append_benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?base build dir}
NEW=${2:?new build dir}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
OUT=$(mktemp -d /tmp/loupe-sbs-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for b in "$BASE" "$NEW"; do
  for t in loupe otlp_load rollup_benchmark store_append_benchmark; do
    [ -x "$b/$t" ] || { echo "missing $b/$t"; exit 2; }
  done
done

one() {  # one round of one build: $1 = label, $2 = build dir
  local label=$1 b=$2
  RUNS=1 LOG_MB=0 bench/ingest_durability.sh "$b" 2>/dev/null | grep '^median' |
    sed "s/^/$label ingest /" >> "$OUT/lines"
  "$b/store_append_benchmark" --benchmark_filter='BM_ComputeXViewHour/3/' \
    --benchmark_repetitions="$REPS" --benchmark_format=json 2>/dev/null > "$OUT/x.json"
  python3 - "$OUT/x.json" "$label xview" >> "$OUT/lines" <<'PY'
import json, sys
for b in json.load(open(sys.argv[1]))['benchmarks']:
    if b.get('run_type') == 'iteration':
        print(f"{sys.argv[2]} real_ms={b['real_time']:.3f} cpu_ms={b['cpu_time']:.3f}")
PY
  "$b/rollup_benchmark" --benchmark_filter='BM_EndpointsHour/1/' \
    --benchmark_repetitions="$REPS" --benchmark_format=json 2>/dev/null > "$OUT/e.json"
  python3 - "$OUT/e.json" "$label endpoints" >> "$OUT/lines" <<'PY'
import json, sys
for b in json.load(open(sys.argv[1]))['benchmarks']:
    if b.get('run_type') == 'iteration':
        print(f"{sys.argv[2]} real_ms={b['real_time']:.3f} cpu_ms={b['cpu_time']:.3f}")
PY
  echo "round done: $label (load $(cut -d' ' -f1 /proc/loadavg))"
}

echo "side by side: base=$BASE new=$NEW rounds=$ROUNDS reps=$REPS, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then one base "$BASE"; one new "$NEW"; else one new "$NEW"; one base "$BASE"; fi
done
python3 - "$OUT/lines" <<'PY'
import re, statistics, sys
v = {}
for line in open(sys.argv[1]):
    w = line.split()
    label, what = w[0], w[1]
    f = dict(re.findall(r'(\w+)=([\d.]+)', line))
    if what == 'ingest':
        store = dict(re.findall(r'(\w+)=(\w+)', line))['store']
        v.setdefault((f'ingest {store} spans/CPU s', label), []).append(float(f['spans_per_server_cpu_s']))
    else:
        v.setdefault((f'{what} CPU ms', label), []).append(float(f['cpu_ms']))
        v.setdefault((f'{what} wall ms', label), []).append(float(f['real_ms']))
for key in sorted({k for k, _ in v}):
    b, n = v.get((key, 'base'), []), v.get((key, 'new'), [])
    if not b or not n:
        continue
    mb, mn = statistics.median(b), statistics.median(n)
    print(f"{key:32s} base {mb:12.1f} (n={len(b)})  new {mn:12.1f} (n={len(n)})  new/base {mn / mb:.3f}")
PY
echo "done, load $(cut -d' ' -f1-3 /proc/loadavg)"
