#!/usr/bin/env bash
# Runs Loupe with its demo application: builds the dashboard if needed, starts
# `loupe server` with its data in .loupe-demo/, then the demo services (shop ->
# orders -> payment, instrumented with the C++ agent) with their traffic and a
# fault schedule, and prints where to look. Ctrl-C stops everything.
#
# Ports follow LOUPE_HTTP_PORT (7070), LOUPE_OTLP_HTTP_PORT (4318),
# LOUPE_OTLP_GRPC_PORT (4317) and LOUPE_DEMO_PORT (8080: shop; orders and
# payment on the next two). LOUPE_DEMO_TPS sets the peak traffic (40 req/s),
# LOUPE_DEMO_FAULT_SCHEDULE=none keeps the faults off until switched on.
# Everything listens on 127.0.0.1 (this machine only) unless LOUPE_BIND says
# otherwise (e.g. LOUPE_BIND=0.0.0.0 to show the demo to another machine):
# loupe server's three ports and the demo services alike.
# Alerts: the demo runs its own SMTP sink (Debian's python3-aiosmtpd) on
# 127.0.0.1:LOUPE_DEMO_SMTP_PORT (2525), points loupe server's e-mail at it,
# and on a fresh data directory sets one channel (demo-mail) and one rule (an
# error rate over 10 %): the first alert e-mail lands in
# LOUPE_DATA_DIR/mail/*.json within minutes (the error_burst fault).
# LOUPE_DEMO_BUILD_WEB=0 skips building the dashboard (the API still works;
# tests/integration/demo_script.test.mjs uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
export LOUPE_DATA_DIR=${LOUPE_DATA_DIR:-$PWD/.loupe-demo}
export LOUPE_HTTP_PORT=${LOUPE_HTTP_PORT:-7070}
export LOUPE_OTLP_HTTP_PORT=${LOUPE_OTLP_HTTP_PORT:-4318}
export LOUPE_OTLP_GRPC_PORT=${LOUPE_OTLP_GRPC_PORT:-4317}
export LOUPE_DEMO_PORT=${LOUPE_DEMO_PORT:-8080}
export LOUPE_BIND=${LOUPE_BIND:-127.0.0.1}  # loupe server reads it as --bind
# Where to reach what listens on LOUPE_BIND.
case "$LOUPE_BIND" in
  0.0.0.0 | :: | '[::]') host=127.0.0.1 ;;
  *) host=$LOUPE_BIND ;;
esac
shown=$host
[ "$host" = 127.0.0.1 ] && shown=localhost
LOUPE_BIN=${LOUPE_BIN:-$BUILD_DIR/loupe}
DEMO_BIN=${LOUPE_DEMO_BIN:-$BUILD_DIR/demo/loupe-demo}
for b in "$LOUPE_BIN" "$DEMO_BIN"; do
  [ -x "$b" ] || { echo "error: $b not found; build first (make build)" >&2; exit 1; }
done

if [ "${LOUPE_DEMO_BUILD_WEB:-1}" != 0 ] && [ -f web/package.json ] && [ ! -f web/dist/index.html -o -n "$(find web/src web/index.html -newer web/dist/index.html 2>/dev/null | head -1)" ]; then
  echo "building the dashboard (web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)
fi

umask 077
mkdir -p "$LOUPE_DATA_DIR"

pids=()
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  echo
  echo "stopping the demo and Loupe..."
  # The demo first, so its agents can flush to the server before it stops.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# The server runs in its own session, so Ctrl-C (SIGINT to the terminal's
# process group) reaches only the demo: stop_all stops the server after the
# demo's agents have flushed their last transactions to it.
# The demo's mailbox: an SMTP sink on loopback writing each message to
# $mail/<n>.json (envelope, headers, text and HTML parts).
mail="$LOUPE_DATA_DIR/mail"
mkdir -p "$mail"
smtp_port=${LOUPE_DEMO_SMTP_PORT:-2525}
SMTP_SINK_DETACHED=1 /usr/bin/python3 tests/notify/smtp_sink.py "$smtp_port" "$mail" </dev/null > "$LOUPE_DATA_DIR/smtp-sink.out" 2>&1 &
pids+=($!)
for ((i = 0; ; i++)); do
  if grep -q READY "$LOUPE_DATA_DIR/smtp-sink.out" 2>/dev/null; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null || [ "$i" -ge 100 ]; then
    echo "error: the demo's SMTP sink did not start on port $smtp_port:" >&2
    cat "$LOUPE_DATA_DIR/smtp-sink.out" >&2
    exit 1
  fi
  sleep 0.1
done
export LOUPE_SMTP_HOST=127.0.0.1 LOUPE_SMTP_PORT=$smtp_port LOUPE_SMTP_STARTTLS=off
export LOUPE_SMTP_FROM=${LOUPE_SMTP_FROM:-loupe-demo@localhost}
export LOUPE_EXTERNAL_URL=${LOUPE_EXTERNAL_URL:-http://$shown:$LOUPE_HTTP_PORT}  # links in the mails

setsid "$LOUPE_BIN" server &
pids+=($!)
server_pid=$!

# Wait until the server answers /healthz (or exits).
api="http://$host:$LOUPE_HTTP_PORT"
for ((i = 0; ; i++)); do
  if curl -fsS -o /dev/null --max-time 1 "$api/healthz" 2>/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "error: loupe server exited; see its output above (is port $LOUPE_HTTP_PORT, $LOUPE_OTLP_HTTP_PORT or $LOUPE_OTLP_GRPC_PORT taken?)" >&2
    exit 1
  fi
  if [ "$i" -ge 300 ]; then echo "error: loupe server not healthy after 30 s" >&2; exit 1; fi
  sleep 0.1
done

# The server writes initial-credentials.json on the first start of an empty
# data directory; the demo keeps its own copy so later starts find the keys.
initial="$LOUPE_DATA_DIR/initial-credentials.json"
creds="$LOUPE_DATA_DIR/demo-credentials.json"
if [ -f "$initial" ]; then cp "$initial" "$creds"; fi
if [ ! -f "$creds" ]; then
  echo "error: no credentials in $LOUPE_DATA_DIR (neither initial-credentials.json nor" >&2
  echo "       demo-credentials.json). Remove $LOUPE_DATA_DIR to start afresh." >&2
  exit 1
fi
field() { sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$creds" | head -1; }
LOUPE_INGEST_KEY=$(field ingest_key)
LOUPE_API_TOKEN=$(field api_token)
export LOUPE_INGEST_KEY LOUPE_API_TOKEN  # to the demo through its environment, not its argv

# One e-mail channel and one rule, once (a later start keeps what the user changed).
auth=(-H "Authorization: Bearer $LOUPE_API_TOKEN" -H "Content-Type: application/json")
if curl -fsS "${auth[@]}" "$api/api/v1/alert-rules" | grep -q '"rules":\[\]'; then
  channel=$(curl -fsS "${auth[@]}" -X POST "$api/api/v1/alert-channels" \
    -d '{"name": "demo-mail", "type": "email", "addresses": ["ops@demo.localhost"]}' |
    sed -n 's/^{"id":\([0-9]*\).*/\1/p')
  curl -fsS -o /dev/null "${auth[@]}" -X POST "$api/api/v1/alert-rules" \
    -d '{"name": "demo: error rate over 10 %", "signal": "error_rate", "window_s": 60,
         "warning": 5, "critical": 10, "min_volume": 20, "channels": ['"$channel"']}' ||
    echo "warning: could not set up the demo's alert rule" >&2
fi

"$DEMO_BIN" all --data-dir "$LOUPE_DATA_DIR/demo-app" --bind "$LOUPE_BIND" \
  --otlp-endpoint "http://$host:$LOUPE_OTLP_HTTP_PORT" --api-url "$api" &
pids+=($!)
unset LOUPE_API_TOKEN

shop="http://$host:$LOUPE_DEMO_PORT"
cat <<MSG

  Loupe dashboard:  http://$shown:$LOUPE_HTTP_PORT/   (listening on $LOUPE_BIND; LOUPE_BIND changes it)
  Sign in with the API token ("api_token") in $creds
    e.g.  grep api_token $creds
  OTLP endpoints:   http://$shown:$LOUPE_OTLP_HTTP_PORT (HTTP), $shown:$LOUPE_OTLP_GRPC_PORT (gRPC)

  Demo shop:        $shop/   (orders on :$((LOUPE_DEMO_PORT + 1)), payment on :$((LOUPE_DEMO_PORT + 2)))
  Faults cycle every 75 s: slow_sql, lock, external_timeout, n_plus_one, error_burst,
  surge, hot_logging, then a calm slot. Switch one yourself:
    curl -X POST '$shop/admin/faults?name=lock&on=1'     (on=1|0|auto; GET shows all)

  Alerts:           rule "demo: error rate over 10 %" mails ops@demo.localhost; the demo's
                    SMTP sink (127.0.0.1:$smtp_port) writes each mail to $mail/<n>.json

  Ctrl-C stops everything.

MSG

# Run until Ctrl-C (the traps above) or until either process ends.
set +e
wait -n "${pids[@]}"
status=$?
stop_all
if [ "$status" -ne 0 ] && [ "$status" -lt 128 ]; then
  echo "a demo process failed (status $status); everything is stopped" >&2
  exit 1
fi
