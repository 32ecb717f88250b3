#!/usr/bin/env bash
# Runs Loupe's main job locally: builds the dashboard, starts `loupe server`
# with its data in .loupe-demo/ and prints where to look. Ctrl-C stops it.
# Ports follow LOUPE_HTTP_PORT, LOUPE_OTLP_HTTP_PORT, LOUPE_OTLP_GRPC_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
export LOUPE_DATA_DIR=${LOUPE_DATA_DIR:-$PWD/.loupe-demo}
export LOUPE_HTTP_PORT=${LOUPE_HTTP_PORT:-7070}
export LOUPE_OTLP_HTTP_PORT=${LOUPE_OTLP_HTTP_PORT:-4318}
export LOUPE_OTLP_GRPC_PORT=${LOUPE_OTLP_GRPC_PORT:-4317}

if [ -f web/package.json ] && [ ! -f web/dist/index.html -o -n "$(find web/src web/index.html -newer web/dist/index.html 2>/dev/null | head -1)" ]; then
  echo "building the dashboard (web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)
fi

creds="$LOUPE_DATA_DIR/initial-credentials.json"
cat <<MSG

  Loupe dashboard:  http://localhost:$LOUPE_HTTP_PORT/
  OTLP endpoints:   http://localhost:$LOUPE_OTLP_HTTP_PORT (HTTP), localhost:$LOUPE_OTLP_GRPC_PORT (gRPC)
  Sign in with the API token from $creds
  (printed below on first start). Ctrl-C stops the server.

MSG
exec "$BUILD_DIR/loupe" server
