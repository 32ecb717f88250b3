#!/usr/bin/env bash
# The agent as a CMake package: builds agents/cpp standalone, installs it into
# a temporary prefix, then builds and runs tests/package_consumer against it
# with find_package(loupe_agent) only. Run by ctest (loupe_agent_package_test).
# Usage: package_test.sh <agents/cpp source dir> [compiler launcher, e.g. ccache]
set -euo pipefail
src=$(cd "$1" && pwd)
launcher=${2:-}
work=$(mktemp -d /tmp/loupe-agent-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
common=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
[ -n "$launcher" ] && common+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
cmake -S "$src" -B "$work/agent" "${common[@]}" -DLOUPE_AGENT_TESTS=OFF -DLOUPE_AGENT_BENCH=OFF >/dev/null
cmake --build "$work/agent" -j 2 >/dev/null
cmake --install "$work/agent" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/loupe/agent.h"
cmake -S "$src/tests/package_consumer" -B "$work/consumer" "${common[@]}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
echo "package_test: find_package(loupe_agent) from $work/prefix builds and runs"
