#!/usr/bin/env bash
# Benchmark `pzctl apply` against the emulator.
#
# Applies about 1,000 changes (3 projects x (1 project + 100 attributes + 100 events +
# 100 audiences + 33 experiences in every status)) to an empty emulator organization:
#   1. --latency-ms 20, no emulator rate limit, --parallelism 4
#   2. --latency-ms 20, --rate-limit 10,        --parallelism 4
#   3. --latency-ms 20, no emulator rate limit, --parallelism 1 (baseline)
# and reports, per run, the wall time against the lower bound
#   max(critical path x latency, writes / 10 rps)
# where the critical path is the longest chain of requests through the plan's `depends_on`
# (each change weighted by the requests it makes) and 10 rps is the API's limit, which the
# client keeps to whatever the emulator allows. Target: wall / bound <= 1.15.
#
# Usage: bench/apply.sh   (uses target/release/pzctl if present, else target/debug/pzctl)
#        RUNS="1 3" bench/apply.sh   (a subset of the runs)
set -euo pipefail

cd "$(dirname "$0")/.."
PZCTL=${PZCTL:-}
if [[ -z "$PZCTL" ]]; then
  if [[ -x target/release/pzctl ]]; then PZCTL=target/release/pzctl; else PZCTL=target/debug/pzctl; fi
fi
RUNS=${RUNS:-"1 2 3"}
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
    if change["kind"] == "experience" and change["action"] == "create":
        status = (change.get("after") or {}).get("status", "draft")
        return {"draft": 2, "active": 3, "paused": 4}[status]
    if change["kind"] == "experience_order":
        return 2
    return 1
longest = {}
for change in plan["changes"]:  # depends_on points backwards
    before = max((longest[d] for d in change["depends_on"] if d in longest), default=0)
    longest[change["address"]] = before + weight(change)
print(len(plan["changes"]), max(longest.values(), default=0))
PY
}

run() { # label emulator-args parallelism
  local url stats before_requests before_writes start end
  start_emulator "--latency-ms $LATENCY_MS $2"
  url=$URL
  CONTENTSTACK_AUTHTOKEN=owner-token "$PZCTL" --endpoint "$url" plan "$WORK/manifests" \
    --format json --out "$WORK/plan.json" >/dev/null
  read -r changes path < <(critical_path "$WORK/plan.json")
  stats=$(curl -s "$url/_emulator/stats")
  before_requests=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$stats")
  before_writes=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["writes"])' "$stats")
  start=$(date +%s.%N)
  CONTENTSTACK_AUTHTOKEN=owner-token "$PZCTL" --endpoint "$url" apply --plan "$WORK/plan.json" \
    --parallelism "$3" --format json >"$WORK/report.json" 2>"$WORK/apply.log" || {
    echo "bench: apply failed (see below)" >&2
    tail -20 "$WORK/apply.log" >&2
    exit 1
  }
  end=$(date +%s.%N)
  stats=$(curl -s "$url/_emulator/stats")
  python3 - "$1" "$changes" "$path" "$start" "$end" "$before_requests" "$before_writes" "$stats" "$WORK/report.json" <<PY
import json, sys
label, changes, path, start, end, r0, w0, stats, report = sys.argv[1:]
stats = json.loads(stats)
report = json.load(open(report))
wall = float(end) - float(start)
requests = stats["requests"] - int(r0)
writes = stats["writes"] - int(w0)
by_path = int(path) * $LATENCY_MS / 1000
by_rate = writes / $RATE
bound = max(by_path, by_rate)
print(f"{label}: {changes} changes ({report['applied']} applied, {report['failed']} failed), "
      f"{requests} requests ({writes} writes, {stats['rateLimited']} answered 429), "
      f"wall {wall:.1f} s; critical path {path} requests = {by_path:.2f} s, "
      f"writes / {$RATE} rps = {by_rate:.1f} s; wall / bound = {wall / bound:.3f}; "
      f"wall / (all requests / {$RATE} rps) = {wall / (requests / $RATE):.3f}")
PY
  kill "${PIDS[${#PIDS[@]}-1]}" 2>/dev/null || true
}

for which in $RUNS; do
  case $which in
    1) run "latency ${LATENCY_MS} ms, no emulator limit, parallelism 4" "" 4 ;;
    2) run "latency ${LATENCY_MS} ms, --rate-limit 10,    parallelism 4" "--rate-limit $RATE" 4 ;;
    3) run "latency ${LATENCY_MS} ms, no emulator limit, parallelism 1 (baseline)" "" 1 ;;
  esac
done
