#!/usr/bin/env bash
# Benchmark `pzctl plan` against the emulator.
#
# 1. Seeds an emulator organization with PROJECTS x EXPERIENCES experiences through its API.
# 2. Runs `pzctl plan --endpoint` through a counting proxy, with the emulator at --rate-limit 10.
# 3. Reports requests issued / minimum, wall time / (requests / 10 rps), and the 429s seen.
#    Minimum = 1 list projects + per project (attributes, events, audiences, experiences,
#    priority, members) + one versions list per experience.
# 4. With MEMORY=1, also reports pzctl's peak memory for 3 x 1,000 experiences
#    (`/usr/bin/time -v`; the rate limit is lifted for that run, it measures memory only).
#
# Usage: bench/plan.sh            (uses target/release/pzctl if present, else target/debug/pzctl)
#        PROJECTS=3 EXPERIENCES=100 MEMORY=1 bench/plan.sh
# Extra emulator flags (e.g. to raise the 100-experiences-per-project limit): EMULATOR_ARGS="...".
set -euo pipefail

cd "$(dirname "$0")/.."
PROJECTS=${PROJECTS:-3}
EXPERIENCES=${EXPERIENCES:-100}
MEMORY=${MEMORY:-0}
PZCTL=${PZCTL:-}
if [[ -z "$PZCTL" ]]; then
  if [[ -x target/release/pzctl ]]; then PZCTL=target/release/pzctl; else PZCTL=target/debug/pzctl; fi
fi
TOKEN=owner-token
USERS=examples/emulator-users.yaml
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_for() {
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  exit 1
}

start_emulator() { # $1 = extra args; prints the base URL
  local port
  port=$(free_port)
  # shellcheck disable=SC2086
  "$PZCTL" emulator --listen "127.0.0.1:$port" --users "$USERS" $1 ${EMULATOR_ARGS:-} \
    >"$WORK/emulator-$port.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$port/projects"
  echo "http://127.0.0.1:$port"
}

# A counting proxy: forwards every request and counts them (and 429s) in $WORK/count.
start_proxy() { # $1 = upstream; prints the proxy URL
  local port
  port=$(free_port)
  python3 - "$port" "$1" "$WORK/count" <<'PY' &
import http.server, sys, threading, urllib.request, urllib.error
port, upstream, count_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
counts = {"requests": 0, "429": 0}
class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def forward(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        request = urllib.request.Request(upstream + self.path, data=body, method=self.command)
        for key, value in self.headers.items():
            if key.lower() not in ("host", "content-length", "connection"):
                request.add_header(key, value)
        try:
            response = urllib.request.urlopen(request, timeout=60)
            status, headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        with lock:
            counts["requests"] += 1
            if status == 429:
                counts["429"] += 1
            with open(count_file, "w") as out:
                out.write(f'{counts["requests"]} {counts["429"]}\n')
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
    do_GET = do_POST = do_PUT = do_DELETE = forward
http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
PY
  PIDS+=($!)
  wait_for "http://127.0.0.1:$port/projects"
  echo "0 0" >"$WORK/count"
  echo "http://127.0.0.1:$port"
}

api() { # method url path [project] [body]
  local args=(-sf -X "$1" -H "authtoken: $TOKEN" -H "content-type: application/json")
  [[ -n "${4:-}" ]] && args+=(-H "x-project-uid: $4")
  [[ -n "${5:-}" ]] && args+=(--data "$5")
  curl "${args[@]}" "$2$3"
}

seed() { # url projects experiences [delay between calls, seconds]
  local delay=${4:-0}
  for p in $(seq 1 "$2"); do
    local uid
    uid=$(api POST "$1" /projects "" "{\"name\":\"bench-$p\",\"description\":\"bench\"}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["uid"])')
    for e in $(seq 1 "$3"); do
      api POST "$1" /experiences "$uid" \
        "{\"name\":\"exp-$e\",\"description\":\"bench\",\"__type\":\"SEGMENTED\",\"tags\":[]}" >/dev/null
      sleep "$delay"
    done
  done
}

manifests() { # folder projects
  mkdir -p "$1"
  for p in $(seq 1 "$2"); do
    printf 'apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: bench-%s}\nspec: {description: bench}\n' "$p" \
      >"$1/bench-$p.yaml"
  done
}

# --- Speed: PROJECTS x EXPERIENCES at 10 requests per second. ---
EMULATOR=$(start_emulator "--rate-limit 10")
echo "seeding $PROJECTS x $EXPERIENCES experiences (paced by the emulator's rate limit)…" >&2
SEED_START=$(date +%s.%N)
# Seeding stays under the emulator's 10 requests per second.
seed "$EMULATOR" "$PROJECTS" "$EXPERIENCES" 0.11 || {
  echo "bench: seeding failed (see $WORK/emulator-*.log)" >&2
  exit 1
}
echo "seeded in $(echo "$(date +%s.%N) - $SEED_START" | bc) s" >&2
PROXY=$(start_proxy "$EMULATOR")
manifests "$WORK/manifests" "$PROJECTS"
START=$(date +%s.%N)
CONTENTSTACK_AUTHTOKEN=$TOKEN "$PZCTL" --endpoint "$PROXY" plan "$WORK/manifests" --format json >/dev/null
END=$(date +%s.%N)
read -r REQUESTS TOO_MANY <"$WORK/count"
MINIMUM=$((1 + PROJECTS * 6 + PROJECTS * EXPERIENCES))
WALL=$(echo "$END - $START" | bc)
IDEAL=$(echo "scale=3; $REQUESTS / 10" | bc)
echo "projects x experiences:  $PROJECTS x $EXPERIENCES"
echo "requests issued:         $REQUESTS (minimum $MINIMUM, ratio $(echo "scale=3; $REQUESTS / $MINIMUM" | bc))"
echo "429 answers:             $TOO_MANY"
echo "wall time:               ${WALL}s (ideal at 10 rps ${IDEAL}s, ratio $(echo "scale=3; $WALL / $IDEAL" | bc))"

# --- Memory: 3 x 1,000 experiences, no rate limit. ---
if [[ "$MEMORY" == 1 ]]; then
  BIG=$(start_emulator "")
  echo "seeding 3 x 1000 experiences…" >&2
  seed "$BIG" 3 1000
  manifests "$WORK/big" 3
  CONTENTSTACK_AUTHTOKEN=$TOKEN /usr/bin/time -v "$PZCTL" --endpoint "$BIG" plan "$WORK/big" --format json \
    >/dev/null 2>"$WORK/time.txt"
  echo "peak memory (3 x 1000):  $(grep 'Maximum resident' "$WORK/time.txt" | awk '{print $NF}') KiB"
fi
