#!/usr/bin/env bash
# Peak memory (maximum resident set size) and wall time of `pzctl validate` against a
# parse-only pass (`pzctl validate --parse-only`, hidden: read and parse every file, nothing
# else) on bench/generate.py's corpus of 10,000 resources (25 projects, 500 files) and of
# 100,000 resources (250 projects, 5,000 files).
#
# Targets: peak RSS at most 45 MiB at 10,000 resources and 300 MiB at 100,000, with validate's
# wall time within 1.1x the parse-only pass.
#
# Usage: bench/validate-memory.sh        (builds the release binary if needed)
# Env:   RUNS (default 3: medians), SIZES (default "25 250": projects per corpus)
# Needs: python3, GNU time (/usr/bin/time -v).
# The 250-project corpus has more projects than the API allows (100), so validate reports one
# error there (`too-many-projects`) after checking everything; it is measured all the same.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PZCTL="${PZCTL:-$ROOT/target/release/pzctl}"
RUNS="${RUNS:-3}"
SIZES="${SIZES:-25 250}"
[ -x "$PZCTL" ] || cargo build --release --manifest-path "$ROOT/Cargo.toml"

# "RSS_KIB WALL_S" medians of $RUNS runs of a command (its exit code is ignored).
measure() {
  local rss=() wall=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v "$@" >/dev/null 2>"$WORK/time.log" || true
    rss+=("$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.log")")
    wall+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.log" |
      awk -F: '{s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s}')")
  done
  local r w
  r=$(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  w=$(printf '%s\n' "${wall[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$r $w"
}

echo "$("$PZCTL" --version), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), medians of $RUNS runs"
for projects in $SIZES; do
  dir="$WORK/corpus-$projects"
  python3 "$ROOT/bench/generate.py" "$dir" --projects "$projects" 2>/dev/null
  resources=$((projects * 400))
  target=$([ "$resources" -le 10000 ] && echo 45 || echo 300)
  read -r parse_rss parse_wall < <(measure "$PZCTL" validate --parse-only "$dir")
  read -r rss wall < <(measure "$PZCTL" validate "$dir")
  python3 - "$resources" "$target" "$parse_rss" "$parse_wall" "$rss" "$wall" <<'PY'
import sys
resources, target = int(sys.argv[1]), float(sys.argv[2])
parse_rss, parse_wall, rss, wall = (float(x) for x in sys.argv[3:])
mib = lambda kib: kib / 1024
print(f"{resources:>7,} resources: validate {mib(rss):6.1f} MiB, {wall:5.2f} s; "
      f"parse-only {mib(parse_rss):6.1f} MiB, {parse_wall:5.2f} s")
print(f"{'':>18} RSS / target ({target:.0f} MiB) = {mib(rss) / target:.2f}; "
      f"RSS / parse-only = {rss / parse_rss:.2f}; "
      f"wall / parse-only = {wall / parse_wall:.2f} (target 1.10); "
      f"{rss * 1024 / resources:,.0f} bytes per resource")
PY
done
