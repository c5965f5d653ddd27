#!/usr/bin/env bash
# Benchmark `pzctl apply` against the emulator.
#
# Applies about 1,000 changes (3 projects x (1 project + 100 attributes + 100 events +
# 100 audiences + 33 experiences in every status)) to an empty emulator organization, every
# request delayed by --latency-ms 20 on the emulator:
#   1. no emulator rate limit, client --rate-limit 0 (no pacing), --parallelism $PARALLEL (32)
#   2. emulator --rate-limit 10,   client default pacing (10 rps), --parallelism $PARALLEL
#   3. no emulator rate limit, client --rate-limit 0,              --parallelism 1 (baseline)
# and reports, per run, wall / bound with
#   bound = max(critical path x latency, writes / rate limit)      (target <= 1.15)
# (writes / rate limit is 0 without a rate limit), and the speedup of run 1 over run 3.
#
# The critical path is the heaviest chain of requests through the plan's `depends_on`, each change
# weighted by the API requests src/apply/operations.rs makes for it. This is an approximation:
#   experience create = POST + draft PUT (+ ACTIVE PUT) (+ PAUSED PUT): draft 2, active 3, paused 4
#     (a `GET versions` more if the POST answer lacks `latestVersion`: not counted); the creates of
#     one project POST one after the other in plan order (apply's determinism gate), so each
#     POST also waits for the previous POST of its project;
#   experience update = PUT fields + GET versions + PUT draft + status PUTs: counted 3;
#   experience_order = GET + PUT priority: 2;
#   every other change (project, stack link, member, attribute, event, audience, any delete) = 1;
# plus what apply reads before its first write, one after the other: the saved plan's staleness
# check (`GET /user` and `GET /projects` at once: 1) and, when the plan creates a project, the
# look before it (`GET /projects`: 1). The looks before other creates are not counted: a project
# the run made is its own first look (see docs/apply.md), and here every project is new.
# `reads` in the output counts every GET the apply made.
#
# With runs 1 and 3 together, run 1 is also compared with its critical path at the request time
# run 3 measured (its wall / its requests: one request after the other, on this machine, now).
#
# Usage: bench/apply.sh   (uses target/release/pzctl if present, else target/debug/pzctl)
#        RUNS="1 3" bench/apply.sh   (a subset of the runs)
#        PARALLEL=64 bench/apply.sh  (the parallelism of runs 1 and 2)
set -euo pipefail

cd "$(dirname "$0")/.."
PZCTL=${PZCTL:-}
if [[ -z "$PZCTL" ]]; then
  if [[ -x target/release/pzctl ]]; then PZCTL=target/release/pzctl; else PZCTL=target/debug/pzctl; fi
fi
RUNS=${RUNS:-"1 2 3"}
PARALLEL=${PARALLEL:-32}
LATENCY_MS=20
RATE=10
USERS=examples/emulator-users.yaml
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_emulator() { # $1 = extra args; sets URL (not in a subshell, so PIDS keeps the pid)
  local port
  port=$(free_port)
  # shellcheck disable=SC2086
  "$PZCTL" emulator --listen "127.0.0.1:$port" --users "$USERS" $1 >"$WORK/emulator-$port.log" 2>&1 &
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

python3 - "$WORK/manifests" <<'PY'
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for p in range(3):
    name = f"apply-{p}"
    docs = [f"apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{description: bench}}\n"]
    for i in range(100):
        docs.append(f"apiVersion: pzctl/v1\nkind: Attribute\nmetadata: {{name: a{i}, project: {name}}}\nspec: {{}}\n")
        docs.append(f"apiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: e{i}, project: {name}}}\nspec: {{}}\n")
        docs.append(
            f"apiVersion: pzctl/v1\nkind: Audience\nmetadata: {{name: g{i}, project: {name}}}\nspec:\n"
            f"  rules:\n    all:\n      - {{attribute: a{i}, condition: STRING_EQUALS, value: v{i}}}\n")
    for i in range(33):
        status = ["draft", "active", "paused"][i % 3]
        docs.append(
            f"apiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: x{i}, project: {name}}}\nspec:\n"
            f"  type: segmented\n  status: {status}\n  variants:\n"
            f"    - {{name: V, audiences: [g{i}, g{i + 33}, g{i + 66}], match: any}}\n")
    with open(os.path.join(out, f"{name}.yaml"), "w") as f:
        f.write("---\n".join(docs))
PY

# The critical path of a plan, in requests: the heaviest chain through `depends_on`.
critical_path() { # plan.json
  python3 - "$1" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
def weight(change):
    kind, action = change["kind"], change["action"]
    if kind == "experience" and action == "create":
        status = (change.get("after") or {}).get("status", "draft")
        return {"draft": 2, "active": 3, "paused": 4}[status]
    if kind == "experience" and action == "update":
        return 3
    if kind == "experience_order" and action != "delete":
        return 2
    return 1
longest = {}
last_post = {}  # project -> when its latest experience POST is done (creates POST in plan order)
for change in plan["changes"]:  # depends_on points backwards
    before = max((longest[d] for d in change["depends_on"] if d in longest), default=0)
    if change["kind"] == "experience" and change["action"] == "create":
        posted = max(before, last_post.get(change["project"], 0)) + 1
        last_post[change["project"]] = posted
        longest[change["address"]] = posted + weight(change) - 1
    else:
        longest[change["address"]] = before + weight(change)
before_writes = 1 + any(c["kind"] == "project" and c["action"] == "create" for c in plan["changes"])
print(len(plan["changes"]), before_writes + max(longest.values(), default=0))
PY
}

WALLS=()
run() { # label emulator-args client-rate-limit parallelism
  local url stats before_requests before_writes start end
  start_emulator "--latency-ms $LATENCY_MS $2"
  url=$URL
  CONTENTSTACK_AUTHTOKEN=owner-token "$PZCTL" --endpoint "$url" --rate-limit "$3" plan \
    "$WORK/manifests" --format json --out "$WORK/plan.json" >/dev/null
  read -r changes path < <(critical_path "$WORK/plan.json")
  stats=$(curl -s "$url/_emulator/stats")
  before_requests=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$stats")
  before_writes=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["writes"])' "$stats")
  start=$(date +%s.%N)
  CONTENTSTACK_AUTHTOKEN=owner-token "$PZCTL" --endpoint "$url" --rate-limit "$3" apply \
    --plan "$WORK/plan.json" --parallelism "$4" --format json >"$WORK/report.json" \
    2>"$WORK/apply.log" || {
    echo "bench: apply failed (see below)" >&2
    tail -20 "$WORK/apply.log" >&2
    exit 1
  }
  end=$(date +%s.%N)
  WALLS+=("$(python3 -c "print($end - $start)")")
  stats=$(curl -s "$url/_emulator/stats")
  LAST_PATH=$path
  LAST_REQUESTS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"] - int(sys.argv[2]))' \
    "$stats" "$before_requests")
  local rate=0
  [[ "$2" == *--rate-limit* ]] && rate=$RATE
  python3 - "$1" "$changes" "$path" "$start" "$end" "$before_requests" "$before_writes" "$stats" \
    "$WORK/report.json" "$rate" "$4" <<PY
import json, sys
label, changes, path, start, end, r0, w0, stats, report, rate, parallel = sys.argv[1:]
stats = json.loads(stats)
report = json.load(open(report))
rate, parallel = float(rate), int(parallel)
wall = float(end) - float(start)
requests = stats["requests"] - int(r0)
writes = stats["writes"] - int(w0)
latency = $LATENCY_MS / 1000
by_path = int(path) * latency
by_rate = writes / rate if rate else 0.0
bound = max(by_path, by_rate)
# Also bounded by the work: every request holds one of the parallel slots for a latency.
by_work = requests * latency / parallel
line = (f"{label}: {changes} changes ({report['applied']} applied, {report['failed']} failed), "
        f"{requests} requests ({writes} writes, {requests - writes} reads, "
        f"{stats['rateLimited']} answered 429); wall {wall:.2f} s; "
        f"critical path {path} requests x {$LATENCY_MS} ms = {by_path:.2f} s")
if rate:
    line += f", writes / {rate:g} rps = {by_rate:.1f} s, all requests / {rate:g} rps = {requests / rate:.1f} s"
line += (f"; WALL / BOUND = {wall / bound:.3f}"
         f" (wall / max(bound, requests x latency / parallelism {by_work:.2f} s) = "
         f"{wall / max(bound, by_work):.3f})")
print(line)
PY
  kill "${PIDS[${#PIDS[@]}-1]}" 2>/dev/null || true
}

declare -A WALL_OF REQUESTS_OF PATH_OF
for which in $RUNS; do
  case $which in
    1) run "1. latency ${LATENCY_MS} ms, no limit, client unpaced, parallelism $PARALLEL" "" 0 "$PARALLEL" ;;
    2) run "2. latency ${LATENCY_MS} ms, emulator --rate-limit $RATE, client 10 rps, parallelism $PARALLEL" \
         "--rate-limit $RATE" "$RATE" "$PARALLEL" ;;
    3) run "3. latency ${LATENCY_MS} ms, no limit, client unpaced, parallelism 1 (baseline)" "" 0 1 ;;
  esac
  WALL_OF[$which]=${WALLS[${#WALLS[@]}-1]}
  REQUESTS_OF[$which]=$LAST_REQUESTS
  PATH_OF[$which]=$LAST_PATH
done
if [[ -n "${WALL_OF[1]:-}" && -n "${WALL_OF[3]:-}" ]]; then
  python3 -c "print(f'speedup (baseline wall / run 1 wall) = {${WALL_OF[3]} / ${WALL_OF[1]}:.1f}x')"
  python3 -c "
request = ${WALL_OF[3]} / ${REQUESTS_OF[3]}
path = ${PATH_OF[1]} * request
print(f'run 1 against its critical path at the request time run 3 measured ({request * 1000:.1f} ms): '
      f'{${PATH_OF[1]}} x {request * 1000:.1f} ms = {path:.2f} s; WALL / PATH = {${WALL_OF[1]} / path:.3f}')"
fi
