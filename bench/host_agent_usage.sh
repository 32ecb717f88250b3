#!/usr/bin/env bash
# CPU and memory of `loupe agent` on this machine (issue 13 budgets: <= 1 % of
# one core, <= 30 MB RSS). Runs the agent against the real / with its defaults
# (5 s interval, top 10 processes) for DURATION seconds (default 600), posting
# to a receiver on loopback that answers 200, and samples the agent's
# /proc/PID/stat (utime + stime) and VmRSS every 10 s.
#
#   bench/host_agent_usage.sh [duration-seconds] [build-dir]
#
# Prints the median and maximum of the CPU share over each minute and of the
# RSS samples, plus the requests received (docs/benchmarks.md "Host agent").
set -euo pipefail

duration="${1:-600}"
bdir="${2:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/$bdir/loupe"
work="$(mktemp -d)"
trap 'kill "${agent:-}" "${rx:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The receiver: counts requests and bytes.
python3 - "$work" <<'PY' &
import http.server, sys, os
work = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    n = 0; size = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        H.n += 1; H.size += len(body)
        open(os.path.join(work, 'rx'), 'w').write(f'{H.n} {H.size}\n')
        self.send_response(200); self.send_header('content-length', '0'); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(os.path.join(work, 'port'), 'w').write(str(s.server_address[1]))
s.serve_forever()
PY
rx=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port="$(cat "$work/port")"

"$bin" agent --server "http://127.0.0.1:$port" --key bench >"$work/agent.log" 2>&1 &
agent=$!
ticks="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$agent/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status"; }

: >"$work/cpu"
: >"$work/rss"
start="$(date +%s)"
last_min="$start"
last_ticks="$(cpu_ticks)"
while [ $(( $(date +%s) - start )) -lt "$duration" ]; do
  sleep 10
  rss_kb >>"$work/rss"
  now="$(date +%s)"
  if [ $(( now - last_min )) -ge 60 ]; then
    t="$(cpu_ticks)"
    # Percent of one core over the minute.
    awk -v d=$(( t - last_ticks )) -v s=$(( now - last_min )) -v hz="$ticks" \
      'BEGIN { printf "%.3f\n", 100 * d / hz / s }' >>"$work/cpu"
    last_ticks="$t"
    last_min="$now"
  fi
done
total_ticks="$(cpu_ticks)"
elapsed=$(( $(date +%s) - start ))

median() { sort -n "$1" | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
maxof() { sort -n "$1" | tail -1; }
echo "duration_s=$elapsed interval_s=5 cores=$(nproc) processes=$(ls -d /proc/[0-9]* | wc -l)"
echo "cpu_pct_of_one_core: median_per_minute=$(median "$work/cpu") max_per_minute=$(maxof "$work/cpu") whole_run=$(awk -v d="$total_ticks" -v s="$elapsed" -v hz="$ticks" 'BEGIN { printf "%.3f", 100 * d / hz / s }')"
echo "rss_mb: median=$(awk '{ printf "%.1f\n", $1 / 1024 }' "$work/rss" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') max=$(awk '{ printf "%.1f\n", $1 / 1024 }' "$work/rss" | sort -n | tail -1)"
echo "requests_received bytes_received: $(cat "$work/rx" 2>/dev/null || echo '0 0')"
grep -v ' sending to ' "$work/agent.log" | head -5 || true
