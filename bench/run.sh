#!/usr/bin/env bash
# Bulwark benchmark: one bounded run (about four minutes, loopback only)
# comparing, side by side, direct-to-fake-upstream, a bare
# httputil.ReverseProxy (also under the runtime setting Bulwark gives
# itself, internal/sysmon) and Bulwark in five configurations — auth + usage
# (guardrails off), + routing/limits/budget, + guardrails at the default
# policy, + guardrails redact-all, and the default policy with PII in every
# prompt (chat_pii.json: every request and its echoed answer is a finding,
# so two durable audit entries per request) — non-stream and stream.
#
# Every request carries a different word in its user turn (loadgen
# -unique), so content-keyed caches (the guard's verdict cache) see what a
# fresh prompt costs, not a replay. Every scenario runs ROUNDS times, the rounds interleaved (A B C … A B C …)
# so that drift in the shared machine's load hits every scenario alike; the
# summary reports the median of the rounds and each ratio as the median of
# the per-round ratios. The measured process is pinned to CPU 1; the load
# generator and the fake upstream to CPU 0. CPU per request = (utime+stime
# delta of the measured process) / completed requests (upstr_us: the same
# for the fake upstream, which shares CPU 0 with the generator); peak RSS =
# VmHWM.
#
# Load is open loop by default: every target is offered the same RATE
# requests per second (over 32 connections; the long-stream rows a
# fifteenth of it, about as many events a second), so CPU per request compares
# the work each does per request rather than how well a faster server
# batches its wake-ups under a closed loop (on this shared 2-core machine
# the closed-loop ratio swung 0.7–2.2× between rounds of the same code).
# RATE=0 gives the closed loop (each connection back to back: maximum RPS).
#
# "bare ReverseProxy stream, usage asked" is the baseline whose client asks
# for stream usage (stream_options.include_usage), as Bulwark always does
# upstream for its accounting: the upstream then sends one more chunk.
# The "long" stream rows relay ~200 events per request instead of ~12: a
# request's fixed costs spread over a longer answer.
#
# Usage: bench/run.sh [duration per run, default 3s] [connections, default
# 32] [rounds, default 5] [rate, default 1500 requests/s; 0: closed loop].
# BENCH_ONLY=<regex> runs only the matching scenarios. BENCH_PERF=<scenario substring> additionally
# records a perf profile of the measured process during the matching runs
# and prints its top functions, then (bench/perfsum.py) each profile's CPU
# time per request by package and function beside the first profile's
# (profiling harness; needs perf).
# BENCH_PACKETS=<scenario substring> counts the TCP segments the measured
# process sends per request during the matching runs (perf's
# net:net_dev_xmit with call stacks), split into its writes, the kernel's
# ACKs on its reads, and the rest (bench/perfsum.py).
# BENCH_THREADS=<scenario substring> prints each thread's context switches and
# CPU per request for the matching scenarios (last round).
# BENCH_HUGETEXT=1 (root) also runs a second bare proxy and a second Bulwark
# from a tmpfs mounted huge=always, so their code and read-only data are
# mapped with 2 MiB pages, as "[huge text]" rows in the same rounds: on a
# guest that flushes the TLB at every kernel entry, it shows what the
# binaries' code footprint costs.
# BENCH_GODEBUG=<value> sets GODEBUG for every Bulwark serve (e.g.
# schedtrace=0: Go's default monitor thread), BENCH_SERVE_ENV="K=V …" adds
# environment variables to it (e.g. GOMAXPROCS=2).
# BENCH_BASE=<git revision> adds that revision's Bulwark as "base@<rev>"
# rows in the same rounds (before/after side by side). BENCH_REV=<git
# revision> measures that commit instead of the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-3s}
CONC=${2:-32}
ROUNDS=${3:-5}
RATE=${4:-1500}
# Long streams (~200 events each, as a few hundred tokens of answer come)
# are offered a fifteenth of the rate: about as many events per second as
# the short ones.
LONG_RATE=0
[ "$RATE" -gt 0 ] && LONG_RATE=$(((RATE + 14) / 15))
GEN_CPU=0
TARGET_CPU=${BENCH_TARGET_CPUS:-1}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if mountpoint -q "$WORK/hugetext" 2>/dev/null; then umount "$WORK/hugetext"; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# BENCH_REV=<git revision> builds the measured binaries from that commit
# (git archive) instead of the working tree — useful while the shared tree
# is mid-edit.
echo "building..." >&2
SRC=.
TREE=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal cmd || echo +dirty)
if [ -n "${BENCH_REV:-}" ]; then
	TREE=$(git rev-parse --short "$BENCH_REV")
	SRC="$WORK/src"
	mkdir -p "$SRC"
	git archive "$TREE" | tar -x -C "$SRC"
fi
for c in bulwark fakeupstream bareproxy loadgen; do (cd "$SRC" && go build -o "$WORK/$c" "./cmd/$c"); done
# BENCH_PPROF=<scenario substring>: the measured Bulwark is built with the
# pprof tag (a loopback-only profiler the release binary does not carry) and
# a CPU profile plus an allocation delta is saved per matching scenario
# (last round) under $BENCH_PPROF_DIR (default bench/out).
if [ -n "${BENCH_PPROF:-}" ]; then
	for c in bulwark bareproxy; do (cd "$SRC" && go build -tags pprof -o "$WORK/$c" "./cmd/$c"); done
	PPROF_OUT=${BENCH_PPROF_DIR:-bench/out}
	mkdir -p "$PPROF_OUT"
fi

# shellcheck source=bench/lib.sh
. bench/lib.sh
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# user ticks and minor page faults: the split of CPU time and the faults a
# heap that grows and is scavenged back costs in the kernel.
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
min_faults() { awk '{print $10}' "/proc/$1/stat"; }
# threads PID: one line per thread — tid, voluntary and involuntary
# switches, CPU ticks (BENCH_THREADS).
threads() {
	local t
	for t in /proc/"$1"/task/*; do
		printf '%s %s %s\n' "${t##*/}" "$(awk '/^(non)?voluntary_ctxt_switches/{printf "%s ", $2}' "$t/status")" "$(awk '{print $14+$15}' "$t/stat")"
	done 2>/dev/null
}
# Context switches of every thread of a process (voluntary + involuntary):
# on this VM a switch costs microseconds, and the Go runtime's sysmon thread
# switches every 20 µs while the process is busy.
ctx_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/{n+=$2} END{print n+0}'; }
hwm_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
TCK=$(getconf CLK_TCK)

UP_PORT=$(port)
taskset -c $GEN_CPU "$WORK/fakeupstream" -listen "127.0.0.1:$UP_PORT" >/dev/null &
UP_PID=$!; PIDS+=($UP_PID)
wait_port "$UP_PORT"

BARE_PORT=$(port)
[ -n "${BENCH_PPROF:-}" ] && BARE_PPROF_ADDR=127.0.0.1:$(port)
BULWARK_PPROF_ADDR=${BARE_PPROF_ADDR:-} taskset -c $TARGET_CPU "$WORK/bareproxy" -listen "127.0.0.1:$BARE_PORT" -target "http://127.0.0.1:$UP_PORT" &
BARE_PID=$!; PIDS+=($BARE_PID)
wait_port "$BARE_PORT"
# The same bare proxy under the runtime setting Bulwark's serve gives itself
# (internal/sysmon: the runtime's monitor thread kept out of its deep
# sleep): the like-for-like baseline for Bulwark's own work.
AWAKE_PORT=$(port)
GODEBUG=schedtrace=2147483647 taskset -c $TARGET_CPU "$WORK/bareproxy" -listen "127.0.0.1:$AWAKE_PORT" -target "http://127.0.0.1:$UP_PORT" &
AWAKE_PID=$!; PIDS+=($AWAKE_PID)
wait_port "$AWAKE_PORT"

# One Bulwark serves every Bulwark scenario; the keys differ only in their
# guard policy and limits, so the rows compare the stages, not processes.
# bench-routed is a routing alias over one deployment: the router, its
# breaker and the per-deployment limits run on every call to it.
# start_bulwark BIN DIR: a configured Bulwark with its four keys, pinned to
# the target CPU; sets BW_PID, BW_PORT and KEY_{PLAIN,LIMITS,DEFAULT,REDACT}.
start_bulwark() {
	local bin=$1 dir=$2
	mkdir -p "$dir"
	BW_PORT=$(port)
	{
		bench_config "$UP_PORT"
		cat <<YAML
routing:
  deployments:
    bench-mini: {provider: openai, model: gpt-4o-mini, rpm: 10000000, tpm: 30000000, max_parallel: 100000}
  aliases:
    bench-routed: {deployments: [bench-mini]}
YAML
	} >"$dir/bulwark.yaml"
	export BULWARK_DATA_DIR="$dir/data" BULWARK_CONFIG="$dir/bulwark.yaml" BULWARK_LISTEN="127.0.0.1:$BW_PORT" BENCH_UPSTREAM_KEY=sk-bench
	"$bin" init >/dev/null 2>&1
	mkkey() { "$bin" keys create --name "$1" --scopes llm --json "${@:2}" 2>/dev/null | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])'; }
	local off="pii=off,secrets=off,injection=off,unscannable=off"
	KEY_PLAIN=$(mkkey plain --guard "$off")
	KEY_LIMITS=$(mkkey limits --guard "$off" --rpm 10000000 --tpm 30000000 --max-parallel 100000 --budget-usd 1000000 --budget-period monthly)
	KEY_DEFAULT=$(mkkey default)
	KEY_REDACT=$(mkkey redact --guard "pii=redact,secrets=redact,injection=redact")
	if [ -n "${BENCH_PPROF:-}" ] && [ "$bin" = "$WORK/bulwark" ]; then
		PPROF_ADDR=127.0.0.1:$(port)
		export BULWARK_PPROF_ADDR=$PPROF_ADDR
	fi
	local senv=()
	[ -n "${BENCH_GODEBUG:-}" ] && senv+=("GODEBUG=$BENCH_GODEBUG")
	# shellcheck disable=SC2206 # BENCH_SERVE_ENV is a list of K=V words
	senv+=(${BENCH_SERVE_ENV:-})
	env "${senv[@]}" taskset -c $TARGET_CPU "$bin" serve >"$dir/bulwark.log" 2>&1 &
	unset BULWARK_PPROF_ADDR
	BW_PID=$!; PIDS+=($BW_PID)
	wait_port "$BW_PORT"
}

# BENCH_BASE=<git revision>: also run that revision's Bulwark (built from
# `git archive`, so the working tree is untouched) in the same rounds, for
# before/after rows measured side by side.
BASE_SCENARIOS=()
U="http://127.0.0.1"
CHAT=/v1/chat/completions
if [ -n "${BENCH_BASE:-}" ]; then
	BASE_REV=$(git rev-parse --short "$BENCH_BASE")
	mkdir -p "$WORK/base-src"
	git archive "$BASE_REV" | tar -x -C "$WORK/base-src"
	(cd "$WORK/base-src" && go build -o "$WORK/bulwark-base" ./cmd/bulwark)
	start_bulwark "$WORK/bulwark-base" "$WORK/base"
	BASE_SCENARIOS=(
		"base@$BASE_REV auth+usage|$BW_PID|$U:$BW_PORT$CHAT|chat_bulwark.json|$KEY_PLAIN"
		"base@$BASE_REV +routing/limits|$BW_PID|$U:$BW_PORT$CHAT|chat_routed.json|$KEY_LIMITS"
		"base@$BASE_REV +guard redact-all|$BW_PID|$U:$BW_PORT$CHAT|chat_bulwark.json|$KEY_REDACT"
		"base@$BASE_REV +guard default, PII|$BW_PID|$U:$BW_PORT$CHAT|chat_pii.json|$KEY_DEFAULT"
		"base@$BASE_REV stream|$BW_PID|$U:$BW_PORT$CHAT|stream_bulwark.json|$KEY_PLAIN"
		"base@$BASE_REV stream +guard redact|$BW_PID|$U:$BW_PORT$CHAT|stream_bulwark.json|$KEY_REDACT"
		"base@$BASE_REV stream, long|$BW_PID|$U:$BW_PORT$CHAT|stream_long_bulwark.json|$KEY_PLAIN|$LONG_RATE"
	)
fi
# BENCH_HUGETEXT=1: the same binaries, run from a huge=always tmpfs. Started
# before the measured Bulwark, like the base, so that start_bulwark's last
# call leaves BW_PID, BW_PORT and every KEY_* naming the measured one.
HT_SCENARIOS=()
if [ -n "${BENCH_HUGETEXT:-}" ]; then
	mkdir -p "$WORK/hugetext"
	[ "$(id -u)" = 0 ] || { echo "BENCH_HUGETEXT mounts a tmpfs: run as root" >&2; exit 1; }
	mount -t tmpfs -o huge=always,size=512m bulwark-bench "$WORK/hugetext"
	cp "$WORK/bulwark" "$WORK/bareproxy" "$WORK/hugetext/"
	HT_BARE_PORT=$(port)
	taskset -c $TARGET_CPU "$WORK/hugetext/bareproxy" -listen "127.0.0.1:$HT_BARE_PORT" -target "http://127.0.0.1:$UP_PORT" &
	HT_BARE_PID=$!; PIDS+=($HT_BARE_PID)
	wait_port "$HT_BARE_PORT"
	start_bulwark "$WORK/hugetext/bulwark" "$WORK/ht"
	for p in $HT_BARE_PID $BW_PID; do
		echo "huge text: pid $p maps $(awk '/^00400000-/{t=1} t&&/ShmemPmdMapped/{print $2" kB"; exit}' "/proc/$p/smaps") of its code with 2 MiB pages" >&2
	done
	HT_SCENARIOS=(
		"[huge text] bare ReverseProxy|$HT_BARE_PID|$U:$HT_BARE_PORT$CHAT|chat_direct.json|$KEY_PLAIN"
		"[huge text] bulwark auth+usage|$BW_PID|$U:$BW_PORT$CHAT|chat_bulwark.json|$KEY_PLAIN"
		"[huge text] bare stream|$HT_BARE_PID|$U:$HT_BARE_PORT$CHAT|stream_direct.json|$KEY_PLAIN"
		"[huge text] bulwark stream|$BW_PID|$U:$BW_PORT$CHAT|stream_bulwark.json|$KEY_PLAIN"
	)
fi
start_bulwark "$WORK/bulwark" "$WORK/head"


# name|pid|url|body|auth key (empty: none)[|rate, default RATE]. Every target gets the same
# Authorization header, as an SDK client always sends one: the baselines
# parse the same request bytes as Bulwark (the bare proxy replaces the
# header with its upstream credential; the fake upstream ignores it).
SCENARIOS=(
	"direct (fake upstream)|$UP_PID|$U:$UP_PORT$CHAT|chat_direct.json|$KEY_PLAIN"
	"bare ReverseProxy|$BARE_PID|$U:$BARE_PORT$CHAT|chat_direct.json|$KEY_PLAIN"
	"bulwark auth+usage|$BW_PID|$U:$BW_PORT$CHAT|chat_bulwark.json|$KEY_PLAIN"
	"bulwark +routing/limits/budget|$BW_PID|$U:$BW_PORT$CHAT|chat_routed.json|$KEY_LIMITS"
	"bulwark +guard default|$BW_PID|$U:$BW_PORT$CHAT|chat_bulwark.json|$KEY_DEFAULT"
	"bulwark +guard redact-all|$BW_PID|$U:$BW_PORT$CHAT|chat_bulwark.json|$KEY_REDACT"
	"bulwark +guard default, PII|$BW_PID|$U:$BW_PORT$CHAT|chat_pii.json|$KEY_DEFAULT"
	"bare ReverseProxy stream|$BARE_PID|$U:$BARE_PORT$CHAT|stream_direct.json|$KEY_PLAIN"
	"bare ReverseProxy stream, usage asked|$BARE_PID|$U:$BARE_PORT$CHAT|stream_direct_usage.json|$KEY_PLAIN"
	"bare ReverseProxy, sysmon awake|$AWAKE_PID|$U:$AWAKE_PORT$CHAT|chat_direct.json|$KEY_PLAIN"
	"bare stream, sysmon awake|$AWAKE_PID|$U:$AWAKE_PORT$CHAT|stream_direct.json|$KEY_PLAIN"
	"bulwark stream|$BW_PID|$U:$BW_PORT$CHAT|stream_bulwark.json|$KEY_PLAIN"
	"bulwark stream +limits|$BW_PID|$U:$BW_PORT$CHAT|stream_routed.json|$KEY_LIMITS"
	"bulwark stream +guard redact|$BW_PID|$U:$BW_PORT$CHAT|stream_bulwark.json|$KEY_REDACT"
	"bare ReverseProxy stream, long|$BARE_PID|$U:$BARE_PORT$CHAT|stream_long_direct.json|$KEY_PLAIN|$LONG_RATE"
	"bulwark stream, long|$BW_PID|$U:$BW_PORT$CHAT|stream_long_bulwark.json|$KEY_PLAIN|$LONG_RATE"
	"${BASE_SCENARIOS[@]}"
	"${HT_SCENARIOS[@]}"
)

# BENCH_ONLY=<extended regex>: run only the scenarios whose name matches
# (for iterating on one path; a run of record runs them all).
if [ -n "${BENCH_ONLY:-}" ]; then
	KEEP=()
	for s in "${SCENARIOS[@]}"; do [[ "${s%%|*}" =~ $BENCH_ONLY ]] && KEEP+=("$s"); done
	SCENARIOS=("${KEEP[@]}")
fi

# run NAME PID URL BODY KEY [RATE]: one measured run, one JSON line
# appended to $WORK/results.
run() {
	local name=$1 pid=$2 url=$3 body=$4 key=$5 rate=${6:-$RATE}
	local hdrs=()
	[ -n "$key" ] && hdrs=(-H "Authorization: Bearer $key")
	local tag # the name as the recordings' files carry it
	tag=$(echo "$name" | tr -c 'a-z0-9' _)
	local perf_pid=""
	if [ -n "${BENCH_PERF:-}" ] && [[ "$name" == *"$BENCH_PERF"* ]]; then
		perf record -q -F 1999 -g -p "$pid" -o "$WORK/perf.$tag.data" -- sleep "${DUR%s}" 2>/dev/null &
		perf_pid=$!
	fi
	local xmit_pid=""
	if [ -n "${BENCH_PACKETS:-}" ] && [[ "$name" == *"$BENCH_PACKETS"* ]]; then
		perf record -q -g -e net:net_dev_xmit -p "$pid" -o "$WORK/xmit.$tag.data" -- sleep "${DUR%s}" 2>/dev/null &
		xmit_pid=$!
	fi
	local pprof_pid=""
	local paddr=""
	[ "$pid" = "$BW_PID" ] && paddr=${PPROF_ADDR:-}
	[ "$pid" = "$BARE_PID" ] && paddr=${BARE_PPROF_ADDR:-}
	if [ -n "${BENCH_PPROF:-}" ] && [[ "$name" == *"$BENCH_PPROF"* ]] && [ -n "$paddr" ]; then
		curl -sf "http://$paddr/debug/pprof/allocs" -o "$PPROF_OUT/allocs0.$tag.pb.gz"
		curl -sf "http://$paddr/debug/pprof/profile?seconds=${DUR%s}" -o "$PPROF_OUT/cpu.$tag.pb.gz" &
		pprof_pid=$!
	fi
	local stat_pid=""
	if [ -n "${BENCH_SYSCALLS:-}" ] && [[ "$name" == *"$BENCH_SYSCALLS"* ]]; then
		perf stat -x, -e syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fsync -p "$pid" -o "$WORK/stat.$tag.r$ROUND.csv" -- sleep "${DUR%s}" 2>/dev/null &
		stat_pid=$!
	fi
	local th=""
	if [ -n "${BENCH_THREADS:-}" ] && [[ "$name" == *"$BENCH_THREADS"* ]]; then
		th="$WORK/threads.$tag"
		threads "$pid" >"$th.0"
	fi
	local t0 u0 c0 us0 f0; t0=$(cpu_ticks "$pid"); u0=$(cpu_ticks "$UP_PID"); c0=$(ctx_switches "$pid"); us0=$(user_ticks "$pid"); f0=$(min_faults "$pid")
	local out; out=$(taskset -c $GEN_CPU "$WORK/loadgen" -unique -rate "$rate" -url "$url" -body "bench/bodies/$body" -c "$CONC" -d "$DUR" "${hdrs[@]}")
	local t1 u1 c1 us1 f1; t1=$(cpu_ticks "$pid"); u1=$(cpu_ticks "$UP_PID"); c1=$(ctx_switches "$pid"); us1=$(user_ticks "$pid"); f1=$(min_faults "$pid")
	[ -n "$th" ] && threads "$pid" >"$th.1"
	[ -n "$perf_pid" ] && wait "$perf_pid" || true
	[ -n "$xmit_pid" ] && wait "$xmit_pid" || true
	[ -n "$stat_pid" ] && wait "$stat_pid" || true
	if [ -n "$pprof_pid" ]; then
		wait "$pprof_pid" || true
		curl -sf "http://$paddr/debug/pprof/allocs" -o "$PPROF_OUT/allocs1.$tag.pb.gz"
	fi
	python3 - "$name" "$out" "$((t1 - t0))" "$TCK" "$(hwm_kb "$pid")" "$((u1 - u0))" "$ROUND" "$((c1 - c0))" "$((us1 - us0))" "$((f1 - f0))" >>"$WORK/results" <<'PY'
import json, sys
name, out, ticks, tck, hwm, up, rnd, cs = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
user, faults = int(sys.argv[9]), int(sys.argv[10])
n = max(out["requests"], 1)
out.update(name=name, round=rnd, cpu_us=ticks / tck / n * 1e6, up_us=up / tck / n * 1e6, rss_mb=hwm / 1024, cs=cs / n,
           user_us=user / tck / n * 1e6, faults=faults / n)
print(json.dumps(out))
PY
	tail -n1 "$WORK/results" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("  round %d %-32s %7.0f rps %7.1f µs/req (user %5.1f) %5.1f cs/req %5.2f faults/req errors=%d" % (r["round"], r["name"], r["rps"], r["cpu_us"], r["user_us"], r["cs"], r["faults"], r["errors"]), file=sys.stderr)'
}

echo "duration=$DUR connections=$CONC rounds=$ROUNDS rate=$RATE/s (long streams $LONG_RATE/s) cpus: target=$TARGET_CPU generator+upstream=$GEN_CPU ($(nproc) online) tree=$TREE"
# Whether the measured Bulwark keeps the runtime's monitor thread awake
# (internal/sysmon: only with two Ps or more, so not on one target CPU),
# which decides which bare proxy is its like-for-like baseline.
BW_GODEBUG=$(tr '\0' '\n' <"/proc/$BW_PID/environ" | sed -n 's/^GODEBUG=//p' | head -n1)
BW_AWAKE=0
[[ ",$BW_GODEBUG," == *",schedtrace="[1-9]* ]] && BW_AWAKE=1
echo "bulwark serve: GODEBUG=${BW_GODEBUG:-(unset)}; monitor thread awake: $([ $BW_AWAKE = 1 ] && echo yes || echo "no (Go's default)")"
export BW_AWAKE
# Warm-up: every scenario once, unmeasured (connection pools, caches, JIT-free
# but page-faulting Go heaps).
for s in "${SCENARIOS[@]}"; do
	IFS='|' read -r name pid url body key srate <<<"$s"
	hdrs=(); [ -n "$key" ] && hdrs=(-H "Authorization: Bearer $key")
	taskset -c $GEN_CPU "$WORK/loadgen" -unique -rate "${srate:-$RATE}" -url "$url" -body "bench/bodies/$body" -c "$CONC" -d 1s "${hdrs[@]}" >/dev/null
done
for ROUND in $(seq "$ROUNDS"); do
	for s in "${SCENARIOS[@]}"; do
		IFS='|' read -r name pid url body key srate <<<"$s"
		run "$name" "$pid" "$url" "$body" "$key" "$srate"
	done
done

python3 - "$WORK/results" <<'PY'
import json, os, random, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = list(dict.fromkeys(r["name"] for r in rows))
by = {n: [r for r in rows if r["name"] == n] for n in names}
med = lambda n, k: statistics.median(r[k] for r in by[n])
print(f'{"scenario (median of rounds)":<32} {"rps":>8} {"p50_ms":>7} {"p99_ms":>7} {"p999":>7} {"ttfb50":>7} {"ttfb99":>7} {"cpu_us/req":>10} {"upstr_us":>8} {"user_us":>7} {"cs/req":>6} {"flt/req":>7} {"rss_MB":>7} {"errors":>6}')
for n in names:
    errs = sum(r["errors"] for r in by[n])
    print(f'{n:<32} {med(n,"rps"):>8.0f} {med(n,"p50_ms"):>7.2f} {med(n,"p99_ms"):>7.2f} {med(n,"p999_ms"):>7.2f} {med(n,"ttfb_p50_ms"):>7.2f} {med(n,"ttfb_p99_ms"):>7.2f} {med(n,"cpu_us"):>10.1f} {med(n,"up_us"):>8.1f} {med(n,"user_us"):>7.1f} {med(n,"cs"):>6.1f} {med(n,"faults"):>7.2f} {max(r["rss_mb"] for r in by[n]):>7.1f} {errs:>6}')
def interval(per, n=4000, seed=1):
    # 95 % percentile-bootstrap interval of the median of the per-round
    # ratios: rounds are resampled with replacement (a fixed seed keeps a
    # report reproducible from its rows).
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(per, k=len(per))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]
def ratio(a, b, label, target=None, key="cpu_us"):
    if a not in by or b not in by:
        return
    per = [x[key] / y[key] for x, y in zip(by[a], by[b]) if y[key] > 0]
    lo, hi = interval(per)
    t = ""
    if target:
        # A target is met only when the whole interval is under it: a median
        # that lands under it by less than the machine's noise is not shown.
        verdict = "met" if hi <= target else "NOT met" if lo > target else "not shown (interval spans it)"
        if len(per) < 5:
            verdict = "not shown (fewer than 5 rounds)"
        t = f"  (target ≤ {target}×: {verdict})"
    print(f'{label:<58} {statistics.median(per):.3f}× [95% {lo:.3f}–{hi:.3f}]  per round: {" ".join(f"{p:.2f}" for p in per)}{t}')
print("\nCPU/request ratios (median of per-round ratios, same round = same machine state):")
ratio("bulwark auth+usage", "bare ReverseProxy", "bulwark auth+usage / bare proxy", 1.1)
ratio("bulwark stream", "bare ReverseProxy stream", "bulwark stream / bare proxy stream", 1.1)
ratio("bulwark stream", "bare ReverseProxy stream, usage asked", "bulwark stream / bare proxy stream, usage asked")
ratio("bulwark stream, long", "bare ReverseProxy stream, long", "bulwark long stream (~200 events) / bare proxy long stream")
if os.environ.get("BW_AWAKE") == "1":
    # Bulwark runs with the monitor thread awake: the bare proxy under the
    # same setting is its like-for-like baseline.
    ratio("bulwark auth+usage", "bare ReverseProxy, sysmon awake", "like for like: bulwark auth+usage / bare proxy, sysmon awake", 1.1)
    ratio("bulwark stream", "bare stream, sysmon awake", "like for like: bulwark stream / bare proxy stream, sysmon awake", 1.1)
else:
    print("(Bulwark runs Go's default monitor thread here, as the bare proxy rows do: they are its like-for-like baseline)")
ratio("bare ReverseProxy, sysmon awake", "bare ReverseProxy", "bare proxy: sysmon awake / Go default")
ratio("bare stream, sysmon awake", "bare ReverseProxy stream", "bare proxy stream: sysmon awake / Go default")
ratio("bulwark +routing/limits/budget", "bulwark auth+usage", "routing+limits+budget / auth+usage")
ratio("bulwark stream +limits", "bulwark stream", "stream routing+limits+budget / stream")
ratio("bulwark +guard redact-all", "bulwark auth+usage", "guard redact-all / guard off", 1.2)
ratio("bulwark +guard default", "bulwark auth+usage", "guard default policy / guard off")
ratio("bulwark +guard default, PII", "bulwark auth+usage", "guard default policy, PII in every prompt (audited) / guard off")
ratio("bulwark stream +guard redact", "bulwark stream", "stream guard redact-all / guard off", 1.2)
ratio("[huge text] bulwark auth+usage", "[huge text] bare ReverseProxy", "[huge text] bulwark auth+usage / bare proxy", 1.1)
ratio("[huge text] bulwark stream", "[huge text] bare stream", "[huge text] bulwark stream / bare proxy stream", 1.1)
ratio("[huge text] bare ReverseProxy", "bare ReverseProxy", "bare proxy: huge text / 4 KiB text")
ratio("[huge text] bare stream", "bare ReverseProxy stream", "bare proxy stream: huge text / 4 KiB text")
ratio("[huge text] bulwark auth+usage", "bulwark auth+usage", "bulwark: huge text / 4 KiB text")
ratio("[huge text] bulwark stream", "bulwark stream", "bulwark stream: huge text / 4 KiB text")
print("\np99 latency ratios (median of per-round ratios; the machine's jitter makes single rounds of p99 swing ±50 %):")
ratio("bulwark auth+usage", "bare ReverseProxy", "p99: bulwark auth+usage / bare proxy", key="p99_ms")
ratio("bulwark stream", "bare ReverseProxy stream", "p99: bulwark stream / bare proxy stream", key="p99_ms")
ratio("bare ReverseProxy, sysmon awake", "bare ReverseProxy", "p99: bare proxy, sysmon awake / Go default", key="p99_ms")
ratio("bare stream, sysmon awake", "bare ReverseProxy stream", "p99: bare proxy stream, sysmon awake / Go default", key="p99_ms")
base = next((n.split(" ")[0] for n in names if n.startswith("base@")), None)
if base:
    ratio("bulwark auth+usage", f"{base} auth+usage", f"p99: bulwark auth+usage / {base}", key="p99_ms")
    ratio("bulwark stream", f"{base} stream", f"p99: bulwark stream / {base}", key="p99_ms")
    ratio("bulwark stream", f"{base} stream", f"bulwark stream / {base}")
    ratio("bulwark stream, long", f"{base} stream, long", f"bulwark long stream / {base}")
    ratio("bulwark stream", f"{base} stream", f"TTFB p99: bulwark stream / {base}", key="ttfb_p99_ms")
    ratio("bulwark +guard default, PII", f"{base} +guard default, PII", f"guard default, PII: bulwark / {base}")
    ratio("bulwark +guard default, PII", f"{base} +guard default, PII", f"p99: guard default, PII: bulwark / {base}", key="p99_ms")
if base:
    print(f"\nThe same ratios for {base} (before), measured in the same rounds:")
    ratio(f"{base} auth+usage", "bare ReverseProxy", f"{base} auth+usage / bare proxy", 1.1)
    ratio(f"{base} stream", "bare ReverseProxy stream", f"{base} stream / bare proxy stream", 1.1)
    ratio(f"{base} stream, long", "bare ReverseProxy stream, long", f"{base} long stream / bare proxy long stream")
    ratio(f"{base} +routing/limits", f"{base} auth+usage", f"{base} routing+limits+budget / auth+usage")
    ratio(f"{base} +guard redact-all", f"{base} auth+usage", f"{base} guard redact-all / guard off", 1.2)
    ratio(f"{base} +guard default, PII", f"{base} auth+usage", f"{base} guard default policy, PII (audited) / guard off")
    ratio(f"{base} stream +guard redact", f"{base} stream", f"{base} stream guard redact-all / guard off", 1.2)
PY

if [ -n "${BENCH_THREADS:-}" ]; then
	# Context switches and CPU per request of each thread of the matching
	# scenarios (last round): which thread's wake-ups a difference is made of
	# (the Go runtime's sysmon is one thread; the rest run goroutines).
	python3 - "$WORK" "$TCK" <<'PY'
import glob, json, os, sys
work, tck = sys.argv[1], int(sys.argv[2])
reqs = {}
for l in open(os.path.join(work, "results")):
    r = json.loads(l)
    reqs["".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789" else "_" for c in r["name"] + "\n")] = r["requests"]
def load(f):
    return {int(p[0]): [int(x) for x in p[1:]] for p in (l.split() for l in open(f)) if len(p) == 4}
for f0 in sorted(glob.glob(os.path.join(work, "threads.*.0"))):
    tag = os.path.basename(f0)[8:-2]
    a, b = load(f0), load(f0[:-1] + "1")
    n = reqs.get(tag, 0) or 1
    rows = sorted(((tid, [(y - x) for x, y in zip(a.get(tid, [0, 0, 0]), v)]) for tid, v in b.items()), key=lambda r: -(r[1][0] + r[1][1]))
    tot = [sum(r[1][i] for r in rows) for i in range(3)]
    print(f"== threads of {tag} (last round, per request): voluntary {tot[0] / n:.2f}, involuntary {tot[1] / n:.2f}, cpu {tot[2] / tck / n * 1e6:.1f} µs")
    for tid, (vol, inv, ticks) in rows[:8]:
        if vol + inv or ticks:
            print(f"   tid {tid:<8} vol {vol / n:6.3f}  invol {inv / n:6.3f}  cpu {ticks / tck / n * 1e6:7.1f} µs")
PY
fi

if [ -n "${BENCH_SYSCALLS:-}" ]; then
	# Syscalls per request of each matching scenario (last round; the
	# request count is the generator's, so the rate is per completed request).
	python3 - "$WORK" <<'PY'
import csv, glob, json, os, sys
work = sys.argv[1]
reqs = {}
for l in open(os.path.join(work, "results")):
    r = json.loads(l)
    key = "".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789" else "_" for c in r["name"] + "\n")
    reqs[(key, r["round"])] = r["requests"]
for f in sorted(glob.glob(os.path.join(work, "stat.*.csv"))):
    counts = []
    for row in csv.reader(l for l in open(f) if l.strip() and not l.startswith("#")):
        try:
            counts.append((float(row[0]), row[2].split(":")[1].replace("sys_enter_", "")))
        except (ValueError, IndexError):
            pass
    base = os.path.basename(f)[5:].rsplit(".", 2)[0]
    rnd = int(os.path.basename(f).rsplit(".", 2)[1][1:])
    n = reqs.get((base, rnd), 0) or 1
    top = sorted(counts, reverse=True)[:12]
    print(f"== syscalls per request: {base} round {rnd} (total {sum(c for c, _ in counts) / n:.1f})")
    print("   " + "  ".join(f"{name}={c / n:.2f}" for c, name in top if c))
PY
fi

if [ -n "${BENCH_PERF:-}" ]; then
	# BENCH_PERF_KEEP=<dir>: keep the perf data files for perf report/annotate.
	[ -n "${BENCH_PERF_KEEP:-}" ] && mkdir -p "$BENCH_PERF_KEEP" && cp "$WORK"/perf.*.data "$BENCH_PERF_KEEP"/ 2>/dev/null
	for f in "$WORK"/perf.*.data; do
		[ -e "$f" ] || continue
		echo "== perf (last round): $(basename "$f"): self, then with callees =="
		# head closes the pipe early: under pipefail that is not a failure.
		perf report -i "$f" --no-children -g none --sort symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40 || true
		perf report -i "$f" --children -g none --sort symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -70 || true
	done
	# In µs per request, each profile beside the first one taken (with
	# BENCH_ONLY selecting a bare proxy row and a Bulwark row: where
	# Bulwark's extra time goes, by package and function).
	python3 bench/perfsum.py packages "$WORK"
fi

if [ -n "${BENCH_PACKETS:-}" ]; then
	python3 bench/perfsum.py packets "$WORK"
fi
