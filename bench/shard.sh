#!/usr/bin/env bash
# Benchmark a one-project shard (`--project`) on a large tree against the same project alone:
# a shard reads only its projects' files, so its cost should not grow with the tree.
#
# Usage: bench/shard.sh            (builds the release binary if needed)
# Env:   PROJECTS (default 100: the bench/scale.sh organization), RUNS (default 7)
# Needs: python3, bc.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PZCTL="${PZCTL:-$ROOT/target/release/pzctl}"
PROJECTS="${PROJECTS:-100}"
RUNS="${RUNS:-7}"

[ -x "$PZCTL" ] || cargo build --release --manifest-path "$ROOT/Cargo.toml"
python3 "$ROOT/bench/generate.py" "$WORK/big" --org "$PROJECTS"
python3 "$ROOT/bench/generate.py" "$WORK/one" --org 1
# The limits of the organization bench/scale.sh measures, so the big tree gives no warning.
printf 'apiVersion: pzctl/v1\nkind: Workspace\nlimits: {projects: 100}\n' > "$WORK/big/pzctl.yaml"
cp "$WORK/big/pzctl.yaml" "$WORK/one/pzctl.yaml"

# Median wall time (seconds) of a command over $RUNS runs; the command must succeed.
time_it() {
  local times=()
  for _ in $(seq "$RUNS"); do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>"$WORK/last.log" || { cat "$WORK/last.log" >&2; echo "failed: $*" >&2; exit 1; }
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

plan() { PZCTL_STATE_DIR="$WORK/state-$1" "$PZCTL" plan "$2" --project org-000; }

T_VALIDATE_ONE=$(time_it "$PZCTL" validate "$WORK/one" --project org-000)
T_VALIDATE_BIG=$(time_it "$PZCTL" validate "$WORK/big" --project org-000)
T_PLAN_ONE=$(time_it plan one "$WORK/one")
T_PLAN_BIG=$(time_it plan big "$WORK/big")
T_WHOLE=$(time_it "$PZCTL" validate "$WORK/big")

echo
echo "one-project shard, medians of $RUNS runs ($PROJECTS-project tree vs the 1-project tree):"
printf '  validate --project   %8.4f s vs %8.4f s   ratio %5.2fx\n' \
  "$T_VALIDATE_BIG" "$T_VALIDATE_ONE" "$(echo "$T_VALIDATE_BIG / $T_VALIDATE_ONE" | bc -l)"
printf '  plan --project       %8.4f s vs %8.4f s   ratio %5.2fx\n' \
  "$T_PLAN_BIG" "$T_PLAN_ONE" "$(echo "$T_PLAN_BIG / $T_PLAN_ONE" | bc -l)"
printf '  validate, whole tree %8.4f s (%5.2fx the big tree'"'"'s shard)\n' \
  "$T_WHOLE" "$(echo "$T_WHOLE / $T_VALIDATE_BIG" | bc -l)"
