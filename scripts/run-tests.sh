#!/usr/bin/env bash
# Runs every test: unit (ctest), fuzz (short libFuzzer runs), integration
# (real binary + OpenTelemetry JS SDK), web (vitest + Chromium end-to-end).
# Usage: scripts/run-tests.sh [build-dir]. Exits non-zero if any part fails.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
export LOUPE_BIN="$PWD/$BUILD_DIR/loupe"
export LOUPE_DEMO_BIN="$PWD/$BUILD_DIR/demo/loupe-demo"
FUZZ_SECONDS=${LOUPE_FUZZ_SECONDS:-15}
failed=()

step() { echo; echo "=== $* ==="; }

step "unit tests (ctest)"
ctest --test-dir "$BUILD_DIR" -j "$(nproc)" --output-on-failure || failed+=(unit)

step "fuzz targets (${FUZZ_SECONDS}s each)"
scripts/run-fuzz.sh "$FUZZ_SECONDS" || failed+=(fuzz)

step "integration tests (OpenTelemetry JS SDK against build/loupe)"
( cd tests/integration && npm ci --no-audit --no-fund --loglevel=error \
    && node --test --test-concurrency=1 ) || failed+=(integration)

if [ -f web/package.json ]; then
  step "web dashboard: unit tests, build, Chromium end-to-end"
  ( cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test \
      && node --test --test-concurrency=1 e2e/dashboard.e2e.mjs e2e/agent.e2e.mjs e2e/instances.e2e.mjs e2e/alerts.e2e.mjs e2e/servers.e2e.mjs ) || failed+=(web)
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
