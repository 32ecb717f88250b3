#!/usr/bin/env bash
# The embedded engine side by side with ClickHouse (issues 3 and 10): the same
# data set loaded into Debian's clickhouse-server (with rollups and an id
# order built by materialized views, as Loupe has them) and into Loupe, with
# the ratios of ingest rate (wall and store CPU), bytes on disk and query
# latencies (build/clickhouse_compare; docs/benchmarks.md says what is timed).
#
#   bench/clickhouse_side_by_side.sh [clickhouse_compare flags...]
#   e.g. bench/clickhouse_side_by_side.sh --scale 0.02 --reps 3   (a quick trial)
#
# Installs clickhouse-server/clickhouse-client with apt-get if missing, starts a
# private server (its own config and data under a temporary directory,
# 127.0.0.1 only, ports CH_HTTP_PORT/CH_TCP_PORT, default 18123/19000; not the
# system service), runs the tool with the server's pid (for its CPU time),
# prints its table, and stops the server and removes the temporary directory
# at exit. CH_COMPRESSION=lz4 keeps ClickHouse's default block compression
# instead of zstd. BUILD=build.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
HTTP_PORT="${CH_HTTP_PORT:-18123}"
TCP_PORT="${CH_TCP_PORT:-19000}"
COMPRESSION="${CH_COMPRESSION:-zstd}"

if ! command -v clickhouse-server >/dev/null 2>&1 && [ ! -x /usr/sbin/clickhouse-server ]; then
  echo "installing clickhouse-server and clickhouse-client (Debian)" >&2
  apt-get update -q >/dev/null
  # policy-rc.d in containers keeps the system service from starting; we
  # never use it either way.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q clickhouse-server clickhouse-client >/dev/null
fi
CH_SERVER="$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)"

if [ ! -x "$BUILD/clickhouse_compare" ]; then
  cmake --build "$BUILD" --target clickhouse_compare
fi

TMP="$(mktemp -d /tmp/loupe-ch-XXXXXX)"
CH_PID=""
cleanup() {
  if [ -n "$CH_PID" ] && kill -0 "$CH_PID" 2>/dev/null; then
    kill "$CH_PID"
    for _ in $(seq 50); do kill -0 "$CH_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$CH_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

mkdir -p "$TMP/data" "$TMP/tmp" "$TMP/log" "$TMP/user_files" "$TMP/format_schemas"
if [ "$COMPRESSION" = zstd ]; then
  # Loupe's columns and profiles are zstd (level 3); give ClickHouse the same.
  COMPRESSION_XML="<compression><case><min_part_size>0</min_part_size><min_part_size_ratio>0</min_part_size_ratio><method>zstd</method><level>3</level></case></compression>"
else
  COMPRESSION_XML=""
fi
cat >"$TMP/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$TMP/log/server.log</log>
    <errorlog>$TMP/log/error.log</errorlog>
    <size>100M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$HTTP_PORT</http_port>
  <tcp_port>$TCP_PORT</tcp_port>
  <path>$TMP/data/</path>
  <tmp_path>$TMP/tmp/</tmp_path>
  <user_files_path>$TMP/user_files/</user_files_path>
  <format_schema_path>$TMP/format_schemas/</format_schema_path>
  <users_config>$TMP/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <keep_alive_timeout>60</keep_alive_timeout>
  <max_concurrent_queries>20</max_concurrent_queries>
  <mark_cache_size>1073741824</mark_cache_size>
  <uncompressed_cache_size>1073741824</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
  $COMPRESSION_XML
</yandex>
EOF
cat >"$TMP/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>8000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
EOF

"$CH_SERVER" --config-file="$TMP/config.xml" >"$TMP/log/stdout.log" 2>&1 &
CH_PID=$!
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$HTTP_PORT/ping" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$CH_PID" 2>/dev/null; then
    echo "clickhouse-server did not start:" >&2
    cat "$TMP/log/stdout.log" "$TMP/log/error.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
curl -sf "http://127.0.0.1:$HTTP_PORT/ping" >/dev/null

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(uname -r), g++ $(g++ -dumpfullversion 2>/dev/null || echo ?)"
echo "clickhouse-server $(dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null || echo ?) on 127.0.0.1:$HTTP_PORT, compression $COMPRESSION; load average $(cut -d' ' -f1-3 /proc/loadavg)"

set +e
"$BUILD/clickhouse_compare" --ch-port "$HTTP_PORT" --ch-pid "$CH_PID" --dir "$TMP/loupe" "$@"
rc=$?
set -e
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
