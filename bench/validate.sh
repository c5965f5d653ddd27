#!/usr/bin/env bash
# Benchmark `pzctl validate` on 10,000 resources in 500 files against check-jsonschema (same
# committed schema) and a parse-only pass (`pzctl validate --parse-only`, hidden).
#
# Usage: bench/validate.sh            (builds the release binary if needed)
# Needs: python3; optional: hyperfine, check-jsonschema (pip install check-jsonschema).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PZCTL="$ROOT/target/release/pzctl"
SCHEMA="$ROOT/schemas/manifest.schema.json"
RUNS="${RUNS:-5}"

[ -x "$PZCTL" ] || cargo build --release --manifest-path "$ROOT/Cargo.toml"
python3 "$ROOT/bench/generate.py" "$WORK/multi" --split "$WORK/single"
SINGLE_FILES=$(find "$WORK/single" -name '*.yaml' | wc -l)

# Sanity: the generated tree is valid (warnings only: 25 projects exceed the default of 3).
"$PZCTL" validate "$WORK/multi" > /dev/null 2>"$WORK/validate.log" || {
  tail -20 "$WORK/validate.log"; echo "generated tree does not validate" >&2; exit 1; }

# Median wall time (seconds) of a command over $RUNS runs.
time_it() {
  local times=()
  for _ in $(seq "$RUNS"); do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1 || true
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "== pzctl validate (500 multi-document files)"
T_VALIDATE=$(time_it "$PZCTL" validate "$WORK/multi")
echo "== pzctl validate --parse-only"
T_PARSE=$(time_it "$PZCTL" validate --parse-only "$WORK/multi")

T_CHECK=""
if command -v check-jsonschema > /dev/null; then
  echo "== check-jsonschema ($SINGLE_FILES single-document files: it reads one document per file)"
  # shellcheck disable=SC2046
  T_CHECK=$(RUNS=1 time_it check-jsonschema --schemafile "$SCHEMA" $(find "$WORK/single" -name '*.yaml' | sort))
fi

if command -v hyperfine > /dev/null; then
  hyperfine --warmup 1 --runs "$RUNS" -N \
    "$PZCTL validate $WORK/multi" \
    "$PZCTL validate --parse-only $WORK/multi" || true
fi

echo
printf 'pzctl validate          %8.3f s\n' "$T_VALIDATE"
printf 'pzctl --parse-only      %8.3f s\n' "$T_PARSE"
printf 'validate / parse-only   %8.2fx\n' "$(echo "$T_VALIDATE / $T_PARSE" | bc -l)"
if [ -n "$T_CHECK" ]; then
  printf 'check-jsonschema        %8.3f s\n' "$T_CHECK"
  printf 'check-jsonschema / pzctl %7.1fx faster\n' "$(echo "$T_CHECK / $T_VALIDATE" | bc -l)"
fi
