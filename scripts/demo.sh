#!/usr/bin/env bash
# The main job, end to end with no account: validate the quickstart manifests, plan them against
# the embedded local organization, apply the plan, and show that a second plan has no changes.
set -euo pipefail
cd "$(dirname "$0")/.."

state_dir=${PZCTL_STATE_DIR:-$(mktemp -d)/.pzctl}
export PZCTL_STATE_DIR="$state_dir"

cargo build --quiet --locked
pzctl=target/debug/pzctl

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }

step pzctl validate examples/quickstart
"$pzctl" validate examples/quickstart

step pzctl plan examples/quickstart
"$pzctl" plan examples/quickstart

step pzctl apply examples/quickstart --auto-approve
"$pzctl" apply examples/quickstart --auto-approve

step pzctl plan examples/quickstart --detailed-exitcode
"$pzctl" plan examples/quickstart --detailed-exitcode

printf '\nThe local organization lives in %s\n' "$state_dir"
