#!/usr/bin/env bash
# Bulwark benchmark: one bounded run (< 3 minutes, loopback only) comparing
# direct-to-fake-upstream, a bare httputil.ReverseProxy and Bulwark (auth,
# usage accounting and the SQLite usage log on), non-stream and stream.
# The measured process is pinned to CPU 1; the load generator and the fake
# upstream to CPU 0. CPU per request = (utime+stime delta of the measured
# process) / completed requests (upstr_us: the same for the fake upstream,
# which shares CPU 0 with the generator); peak RSS = VmHWM. Usage: bench/run.sh
# [duration, default 10s] [connections, default 32].
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
CONC=${2:-32}
GEN_CPU=0
TARGET_CPU=1
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "building..." >&2
for c in bulwark fakeupstream bareproxy loadgen; do go build -o "$WORK/$c" "./cmd/$c"; done

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hwm_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
TCK=$(getconf CLK_TCK)

UP_PORT=$(port)
taskset -c $GEN_CPU "$WORK/fakeupstream" -listen "127.0.0.1:$UP_PORT" >/dev/null &
UP_PID=$!; PIDS+=($UP_PID)
wait_port "$UP_PORT"

BARE_PORT=$(port)
taskset -c $TARGET_CPU "$WORK/bareproxy" -listen "127.0.0.1:$BARE_PORT" -target "http://127.0.0.1:$UP_PORT" &
BARE_PID=$!; PIDS+=($BARE_PID)
wait_port "$BARE_PORT"

BW_PORT=$(port)
cat >"$WORK/bulwark.yaml" <<YAML
log: {level: warn}
providers:
  - name: openai
    type: openai
    base_url: http://127.0.0.1:$UP_PORT/v1
    api_key_env: BENCH_UPSTREAM_KEY
default_providers: {openai: openai}
YAML
export BULWARK_DATA_DIR="$WORK/data" BULWARK_CONFIG="$WORK/bulwark.yaml" BULWARK_LISTEN="127.0.0.1:$BW_PORT" BENCH_UPSTREAM_KEY=sk-bench
"$WORK/bulwark" init >/dev/null 2>&1
KEY=$("$WORK/bulwark" keys create --name bench --scopes llm --json 2>/dev/null | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
taskset -c $TARGET_CPU "$WORK/bulwark" serve >"$WORK/bulwark.log" 2>&1 &
BW_PID=$!; PIDS+=($BW_PID)
wait_port "$BW_PORT"

# run NAME PID URL BODY [headers...]: warm up, then measure one run.
run() {
	local name=$1 pid=$2 url=$3 body=$4; shift 4
	local hdrs=()
	for h in "$@"; do hdrs+=(-H "$h"); done
	taskset -c $GEN_CPU "$WORK/loadgen" -url "$url" -body "bench/bodies/$body" -c "$CONC" -d 2s "${hdrs[@]}" >/dev/null
	local t0 u0; t0=$(cpu_ticks "$pid"); u0=$(cpu_ticks "$UP_PID")
	local out; out=$(taskset -c $GEN_CPU "$WORK/loadgen" -url "$url" -body "bench/bodies/$body" -c "$CONC" -d "$DUR" "${hdrs[@]}")
	local t1 u1; t1=$(cpu_ticks "$pid"); u1=$(cpu_ticks "$UP_PID")
	python3 - "$name" "$out" "$((t1 - t0))" "$TCK" "$(hwm_kb "$pid")" "$((u1 - u0))" <<'PY'
import json, sys
name, out, ticks, tck, hwm, up = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
n = max(out["requests"], 1)
cpu_us = ticks / tck / n * 1e6
up_us = up / tck / n * 1e6
print(f'{name:<28} {out["rps"]:>9.0f} {out["p50_ms"]:>8.2f} {out["p99_ms"]:>8.2f} {out["ttfb_p50_ms"]:>9.2f} {out["ttfb_p99_ms"]:>9.2f} {cpu_us:>10.1f} {up_us:>9.1f} {hwm/1024:>8.1f} {out["errors"]:>6}')
PY
}

echo "duration=$DUR connections=$CONC cpus: target=$TARGET_CPU generator+upstream=$GEN_CPU ($(nproc) online)"
printf '%-28s %9s %8s %8s %9s %9s %10s %9s %8s %6s\n' scenario rps p50_ms p99_ms ttfb_p50 ttfb_p99 cpu_us/req upstr_us rss_MB errors
run "direct (fake upstream)" "$UP_PID" "http://127.0.0.1:$UP_PORT/v1/chat/completions" chat_direct.json
run "bare ReverseProxy" "$BARE_PID" "http://127.0.0.1:$BARE_PORT/v1/chat/completions" chat_direct.json
run "bulwark" "$BW_PID" "http://127.0.0.1:$BW_PORT/v1/chat/completions" chat_bulwark.json "Authorization: Bearer $KEY"
run "bare ReverseProxy stream" "$BARE_PID" "http://127.0.0.1:$BARE_PORT/v1/chat/completions" stream_direct.json
run "bulwark stream" "$BW_PID" "http://127.0.0.1:$BW_PORT/v1/chat/completions" stream_bulwark.json "Authorization: Bearer $KEY"
