#!/usr/bin/env bash
# Benchmark many projects against one organization's rate limit.
#
# The organization: PROJECTS projects (default 100), each 10 attributes, 5 events, 10 audiences,
# 10 experiences and 3 members (`bench/generate.py --org`), applied to an empty emulator at
# --rate-limit 10 (the hosted API's 10 requests per second per organization), then planned again.
# Each mode runs on its own emulator (its own organization and limit):
#   one     one process: `apply` of the whole tree, then a re-plan of the whole tree;
#   shards  SHARDS processes at once (default 10), each `--project` of PROJECTS / SHARDS projects,
#           at the default settings (each paces itself at 10 rps): apply, then re-plan as shards;
#   split   the same shards with the rate split between them, `--rate-limit` = 10 / SHARDS, as
#           docs/ci.md and examples/github/pzctl-matrix.yml advise.
# Per phase it reports the requests the emulator answered, the 429s, the wall time from the first
# process's start to the last one's end, WALL / BOUND with
#   bound = (requests answered - 429s) / 10 rps    (the rate limit allows nothing faster),
# the processes that failed (exit code 1), and for the re-plan the ones that still see changes
# (exit code 2 of `--detailed-exitcode`: what a failed apply left undone, or drift reported).
#
# Usage: bench/scale.sh [--small] [--projects N] [--shards N]
#          --small: 6 projects of 2 attributes, 1 event, 2 audiences, 2 experiences, 3 members,
#                   in 3 shards (a smoke test: seconds, not minutes)
#        MODES="one shards" bench/scale.sh   (a subset of the modes)
#        SERIAL=1 bench/scale.sh             (modes one after another; default: all at once,
#                                             each against its own emulator)
# Uses target/release/pzctl if present, else target/debug/pzctl (PZCTL=... to choose).
# The full size takes about 10 minutes (the apply alone is about 5,300 requests at 10 rps).
set -euo pipefail

cd "$(dirname "$0")/.."
PROJECTS=100
SHARDS=10
PER_PROJECT=10,5,10,10,3
while [[ $# -gt 0 ]]; do
  case $1 in
    --small) PROJECTS=6; SHARDS=3; PER_PROJECT=2,1,2,2,3 ;;
    --projects) PROJECTS=$2; shift ;;
    --shards) SHARDS=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if (( SHARDS < 1 || SHARDS > PROJECTS )); then
  echo "bench: --shards must be between 1 and the number of projects" >&2
  exit 2
fi
MODES=${MODES:-"one shards split"}
SERIAL=${SERIAL:-0}
RATE=10
PZCTL=${PZCTL:-}
if [[ -z "$PZCTL" ]]; then
  if [[ -x target/release/pzctl ]]; then PZCTL=target/release/pzctl; else PZCTL=target/debug/pzctl; fi
fi
USERS=examples/emulator-users.yaml
WORK=$(mktemp -d)
# A copy of the binary, so that a rebuild during the run does not change what is measured.
cp "$PZCTL" "$WORK/pzctl"
PZCTL=$WORK/pzctl
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_emulator() { # $1 = name; sets URL (not in a subshell, so PIDS keeps the pid)
  local port
  port=$(free_port)
  "$PZCTL" emulator --listen "127.0.0.1:$port" --users "$USERS" --rate-limit "$RATE" \
    --max-projects "$PROJECTS" >"$WORK/emulator-$1.log" 2>&1 </dev/null &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/_emulator/stats"; then
      URL="http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  echo "bench: the emulator did not come up" >&2
  exit 1
}

stats() { # url -> "requests rateLimited"
  curl -s "$1/_emulator/stats" |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["requests"], s["rateLimited"])'
}

python3 bench/generate.py "$WORK/manifests" --org "$PROJECTS" --per-project "$PER_PROJECT" 2>/dev/null

# The --project flags of shard $1 (0-based) of $2: a contiguous block of projects.
shard_flags() {
  local from=$(($1 * PROJECTS / $2)) to=$((($1 + 1) * PROJECTS / $2)) p
  for ((p = from; p < to; p++)); do printf -- '--project org-%03d ' "$p"; done
}

# One phase: $2 processes of `pzctl $4 ...` at once (one per shard), client rate $3.
# Prints "requests 429s wall failed changed", where changed counts exit code 2.
phase() { # label shards rate command url
  local label=$1 shards=$2 rate=$3 command=$4 url=$5 r0 l0 r1 l1 start end k failed=0 changed=0
  local pids=() extra=()
  [[ "$command" == apply ]] && extra=(--auto-approve)
  [[ "$command" == plan ]] && extra=(--detailed-exitcode --format json)
  read -r r0 l0 < <(stats "$url")
  start=$(date +%s.%N)
  for ((k = 0; k < shards; k++)); do
    local flags=()
    if (( shards > 1 )); then read -r -a flags <<<"$(shard_flags "$k" "$shards")"; fi
    local rate_flag=()
    [[ -n "$rate" ]] && rate_flag=(--rate-limit "$rate")
    CONTENTSTACK_AUTHTOKEN=owner-token "$PZCTL" --endpoint "$url" "${rate_flag[@]}" "$command" \
      "$WORK/manifests" "${flags[@]}" "${extra[@]}" >/dev/null 2>"$WORK/$label-$command-$k.log" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    local code=0
    wait "$pid" || code=$?
    case $code in
      0) ;;
      2) changed=$((changed + 1)) ;;
      *) failed=$((failed + 1)) ;;
    esac
  done
  end=$(date +%s.%N)
  read -r r1 l1 < <(stats "$url")
  echo "$((r1 - r0)) $((l1 - l0)) $(python3 -c "print(f'{$end - $start:.1f}')") $failed $changed"
}

# One mode: apply then re-plan; prints its report lines.
mode() { # name url
  local name=$1 url=$2 shards rate="" title
  case $name in
    one) shards=1; title="one process" ;;
    shards) shards=$SHARDS; title="$SHARDS shards, default pace" ;;
    split) shards=$SHARDS; rate=$(python3 -c "print(f'{$RATE / $SHARDS:.3f}')")
      title="$SHARDS shards, --rate-limit $rate each" ;;
  esac
  local result
  for command in apply plan; do
    read -r -a result < <(phase "$name" "$shards" "$rate" "$command" "$url")
    python3 - "$title" "$command" "$shards" "$RATE" "${result[@]}" <<'PY'
import sys
title, command, shards, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
requests, limited, wall, failed, changed = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
answered = requests - limited
bound = answered / rate
ratio = wall / bound if bound else float("nan")
what = "apply   " if command == "apply" else "re-plan "
line = (f"{title:<34} {what} {answered:5d} requests + {limited:5d} answered 429, "
        f"wall {wall:6.1f} s, bound {bound:6.1f} s, WALL / BOUND = {ratio:.3f}, "
        f"failed {failed}/{shards}")
if command == "plan":
    line += f", with changes {changed}/{shards}"
print(line)
PY
  done
  # Why shards failed: the last line of each failed log, counted.
  local logs
  logs=$(grep -h '^error' "$WORK/$name"-*.log 2>/dev/null | sed 's/[0-9a-f]\{24\}/UID/g' | sort | uniq -c | sort -rn | head -3 || true)
  if [[ -n "$logs" ]]; then
    while IFS= read -r line; do echo "    $title: $line"; done <<<"$logs"
  fi
}

echo "organization: $PROJECTS projects x ($PER_PROJECT attributes,events,audiences,experiences,members); emulator --rate-limit $RATE; $("$PZCTL" --version)"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
declare -A URLS
for name in $MODES; do
  start_emulator "$name"
  URLS[$name]=$URL
done
RUNNING=()
for name in $MODES; do
  if [[ "$SERIAL" == 1 ]]; then
    mode "$name" "${URLS[$name]}"
  else
    mode "$name" "${URLS[$name]}" >"$WORK/report-$name.txt" &
    RUNNING+=($!)
  fi
done
if [[ "$SERIAL" != 1 ]]; then
  for pid in "${RUNNING[@]}"; do wait "$pid" || true; done
  for name in $MODES; do cat "$WORK/report-$name.txt"; done
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
