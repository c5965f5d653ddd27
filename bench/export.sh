#!/usr/bin/env bash
# Benchmark `pzctl export` against a rate-limited emulator.
#
# Seeds an organization of 3 projects x 100 experiences (embedded apply: no network, no
# pacing), serves it with `pzctl emulator --rate-limit 10`, exports it over HTTP, and reports:
#   - requests / minimum: the minimum is 2 (who am I, projects) + 6 lists per project
#     (members, attributes, events, audiences, experiences, priority) + 1 versions list per
#     experience;
#   - wall / (requests / 10): how close the export runs to the rate limit (1.0 = exactly at it).
# Then checks the round trip: validate is clean and plan shows no changes.
#
# Usage: bench/export.sh            (PZCTL=path/to/pzctl to use another binary)
set -euo pipefail

cd "$(dirname "$0")/.."
PZCTL=${PZCTL:-}
if [[ -z "$PZCTL" ]]; then
  cargo build --quiet --bin pzctl
  PZCTL=$PWD/target/debug/pzctl
fi
PROJECTS=3
EXPERIENCES=100
RATE=10

work=$(mktemp -d)
emulator_pid=
cleanup() {
  if [[ -n "$emulator_pid" ]]; then kill "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# 1. Manifests for the seed: per project one event and 100 A/B tests.
for p in $(seq 1 "$PROJECTS"); do
  dir=seed/project-$p
  mkdir -p "$dir"
  cat > "$dir/project.yaml" <<EOF
apiVersion: pzctl/v1
kind: Project
metadata: {name: project-$p}
spec: {description: "Bench project $p"}
---
apiVersion: pzctl/v1
kind: Event
metadata: {name: purchase, project: project-$p}
spec: {description: Purchase}
EOF
  for e in $(seq 1 "$EXPERIENCES"); do
    cat <<EOF
---
apiVersion: pzctl/v1
kind: Experience
metadata: {name: experience-$e, project: project-$p}
spec:
  type: ab_test
  tags: [bench]
  variants:
    - {name: Control, traffic: 50}
    - {name: Variant, traffic: 50}
  metrics: [purchase]
EOF
  done | tail -n +2 > "$dir/experiences.yaml"
done

# 2. Seed the embedded organization, then serve its state file.
seed_start=$(date +%s.%N)
"$PZCTL" --state-dir org apply seed --auto-approve > seed.log 2>&1 || { cat seed.log; exit 1; }
seed_end=$(date +%s.%N)
cp org/state.json served.json
: > emulator.log
"$PZCTL" emulator --listen 127.0.0.1:0 --data served.json --rate-limit "$RATE" 2> emulator.log &
emulator_pid=$!
url=
for _ in $(seq 1 100); do
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' emulator.log)
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { echo "emulator did not start:"; cat emulator.log; exit 1; }

requests() { curl -fsS "$url/_emulator/stats" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p'; }
limited() { curl -fsS "$url/_emulator/stats" | sed -n 's/.*"rateLimited":\([0-9]*\).*/\1/p'; }

# 3. Export over HTTP at the rate limit.
export CONTENTSTACK_AUTHTOKEN=owner-token
before=$(requests)
before_429=$(limited)
start=$(date +%s.%N)
"$PZCTL" --endpoint "$url" export --out exported 2> export.log
end=$(date +%s.%N)
after=$(requests)
after_429=$(limited)

# 4. Round trip.
"$PZCTL" validate exported > validate.log 2>&1 || { cat validate.log; exit 1; }
set +e
"$PZCTL" --endpoint "$url" plan exported --detailed-exitcode > plan.txt 2>&1
plan_code=$?
set -e

sent=$((after - before))
throttled=$((after_429 - before_429))
minimum=$((2 + PROJECTS * (6 + EXPERIENCES)))
awk -v sent="$sent" -v min="$minimum" -v start="$start" -v end="$end" -v rate="$RATE" \
    -v seed_start="$seed_start" -v seed_end="$seed_end" -v throttled="$throttled" \
    -v total="$((PROJECTS * EXPERIENCES))" -v files="$(find exported -type f | wc -l)" -v plan_code="$plan_code" 'BEGIN {
  wall = end - start
  printf "seed (embedded apply, %d experiences): %.1f s\n", total, seed_end - seed_start
  printf "export: %d files, %d requests (%d answered 429), minimum %d -> requests/minimum = %.3f\n", files, sent, throttled, min, sent / min
  printf "export wall %.2f s at %d req/s -> wall/(requests/%d) = %.3f\n", wall, rate, rate, wall / (sent / rate)
  printf "round trip: plan --detailed-exitcode exit %d (%s)\n", plan_code, plan_code == 0 ? "no changes" : "CHANGES OR ERROR"
}'
tail -n 1 export.log
[[ "$plan_code" == 0 ]] || { cat plan.txt; exit 1; }
