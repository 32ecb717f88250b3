#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzz.cc) in build-fuzz/ with
# clang-14 + ASan/UBSan and runs each for N seconds (default 20) on a temporary
# copy of its seed corpus (tests/fuzz/corpus/<name>/, <name> = target without
# _fuzz). Exits non-zero if any target crashes, leaks, times out or runs out
# of memory; the failing input is kept in build-fuzz/fuzz-artifacts/<target>/.
#
#   scripts/run-fuzz.sh [seconds-per-target]
#
# FUZZ_BUILD_DIR overrides the build directory (default build-fuzz), so
# several worktrees or branches can fuzz side by side.
set -euo pipefail

secs="${1:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bdir="${FUZZ_BUILD_DIR:-build-fuzz}"

CC=clang-14 CXX=clang++-14 cmake -S . -B "$bdir" -G Ninja -DLOUPE_FUZZ=ON \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build "$bdir" -j "${JOBS:-2}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
for src in tests/fuzz/*_fuzz.cc; do
  target="$(basename "$src" .cc)"
  name="${target%_fuzz}"
  corpus="$work/$name"
  mkdir -p "$corpus"
  if [ -d "tests/fuzz/corpus/$name" ]; then cp "tests/fuzz/corpus/$name"/* "$corpus"/; fi
  args=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
  if [ -f "tests/fuzz/$name.dict" ]; then args+=(-dict="tests/fuzz/$name.dict"); fi
  artifacts="$bdir/fuzz-artifacts/$target/"
  mkdir -p "$artifacts"
  log="$work/$target.log"
  echo "== $target: ${secs}s"
  if "$bdir/$target" "${args[@]}" -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" | tr '\n' ' '
    echo
  else
    echo "!! $target FAILED; last lines of its log:"
    tail -n 40 "$log"
    echo "!! reproduce with: $bdir/$target $artifacts<crash-file>"
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}"
  exit 1
fi
echo "all fuzz targets ran ${secs}s without findings"
