#!/usr/bin/env bash
# Bulwark under callgrind: what each request executes, counted rather than
# timed. The bare reverse proxy (cmd/bareproxy) and Bulwark (key "plain":
# auth + usage, guard off) each serve N requests under valgrind's callgrind
# with its cache and branch simulators, and bench/callgrind_sum.py prints,
# per request and side by side, the instructions executed (Ir), simulated
# L1 instruction and data misses, mispredicted branches, and an estimate of
# cycles from them — in all, per package and per function.
#
# Counts do not swing with the machine's load as times do (bench/run.sh's
# CPU per request moves ±10–20 % per round on this shared VM): Bulwark's
# own functions count the same to within a few instructions run after run,
# and two builds of one tree measured together differ by ~1.5 % in all
# (the runtime's and SQLite's shares depend on timing). What counts cannot
# show is what the machine adds: kernel time, the TLB and caches a syscall
# leaves cold, context switches. They rank Bulwark's own work;
# bench/run.sh says what it costs.
#
# Usage: bench/callgrind.sh [requests, default 1000] [rate, default 100/s]
# CG_BODY=chat measures non-stream requests (default: stream); CG_TOP=N lists
# the N functions that differ most (default 40).
# CG_EVENTS=I1mr,Bcm,… also lists the functions that differ most in those
# callgrind events (L1 instruction misses, mispredicted conditional
# branches; see bench/callgrind_sum.py). CG_KEEP=<dir> keeps the dumps and
# the binaries there, to summarise again without measuring again.
# CG_BASE=<git revision> also runs that revision's Bulwark, and compares
# head with it instead of with the bare proxy: a before/after of a change
# that noise cannot blur.
#
# Caveats. Bulwark's usage writer inserts its rows every 200 ms, so at the
# rates valgrind allows (100/s: ~20 rows a batch) SQLite's share is
# overstated against a real load (~300 rows a batch at 1 500/s), and so is
# the share of Bulwark's other timers (key cache refresh, barrier watch). Valgrind
# emulates no SHA instructions, so the key's HMAC runs Go's AVX2 SHA-256
# code instead of SHA-NI. Every measured process runs with asynchronous
# preemption off (callgrind cannot follow its signals) and RDTSCP off
# (valgrind 3.19 cannot decode it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
RATE=${2:-100}
BODY=${CG_BODY:-stream}
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
[ "$RATE" -gt 0 ] || { echo "callgrind.sh: the rate must be above 0 (valgrind cannot keep up with a closed loop)" >&2; exit 1; }
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "$rc" != 0 ]; then # what valgrind and the targets said, before it goes
		for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "building..." >&2
for c in bulwark fakeupstream bareproxy loadgen; do go build -o "$WORK/$c" "./cmd/$c"; done
if [ -n "${CG_BASE:-}" ]; then
	BASE_REV=$(git rev-parse --short "$CG_BASE")
	mkdir -p "$WORK/base-src"
	git archive "$BASE_REV" | tar -x -C "$WORK/base-src"
	(cd "$WORK/base-src" && go build -o "$WORK/bulwark-base" ./cmd/bulwark)
fi

# shellcheck source=bench/lib.sh
. bench/lib.sh

UP_PORT=$(port)
"$WORK/fakeupstream" -listen "127.0.0.1:$UP_PORT" >/dev/null &
PIDS+=($!)
wait_port "$UP_PORT"

# The runtime settings callgrind needs, for every measured process alike
# (the load generator inherits them too; at these rates it does not care).
export GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1 GOMAXPROCS=1
VG=(valgrind --tool=callgrind --dump-instr=yes --collect-jumps=no --cache-sim=yes --branch-sim=yes --LL=1048576,16,64)

# measured NAME PORT CMD…: start CMD under callgrind, listening on PORT.
declare -A PID_OF PORT_OF KEY_OF
measured() {
	local name=$1 p=$2
	shift 2
	"${VG[@]}" --callgrind-out-file="$WORK/$name.cg" "$@" >"$WORK/$name.log" 2>&1 &
	PID_OF[$name]=$!
	PORT_OF[$name]=$p
	PIDS+=($!)
}

# bulwark NAME BIN: a configured Bulwark with one guard-off key (KEY_OF).
bulwark() {
	local name=$1 bin=$2 dir="$WORK/$1" p
	p=$(port)
	mkdir -p "$dir"
	bench_config "$UP_PORT" >"$dir/bulwark.yaml"
	export BULWARK_DATA_DIR="$dir/data" BULWARK_CONFIG="$dir/bulwark.yaml" BULWARK_LISTEN="127.0.0.1:$p" BENCH_UPSTREAM_KEY=sk-bench
	GODEBUG= "$bin" init >/dev/null 2>&1
	KEY_OF[$name]=$(GODEBUG= "$bin" keys create --name plain --scopes llm --json --guard pii=off,secrets=off,injection=off,unscannable=off 2>/dev/null | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
	measured "$name" "$p" "$bin" serve
}

BARE_PORT=$(port)
measured bare "$BARE_PORT" "$WORK/bareproxy" -listen "127.0.0.1:$BARE_PORT" -target "http://127.0.0.1:$UP_PORT"
bulwark head "$WORK/bulwark"
[ -n "${CG_BASE:-}" ] && bulwark base "$WORK/bulwark-base"
NAMES=(bare head)
[ -n "${CG_BASE:-}" ] && NAMES=(bare base head)
for n in "${NAMES[@]}"; do wait_port "${PORT_OF[$n]}" 60; done # valgrind starts a Go binary slowly

body() { # NAME: the request body for that target (the bare proxy forwards the model name as is)
	if [ "$1" = bare ]; then echo "bench/bodies/${BODY}_direct.json"; else echo "bench/bodies/${BODY}_bulwark.json"; fi
}
load() { # NAME SECONDS
	"$WORK/loadgen" -unique -rate "$RATE" -c 4 -d "${2}s" -url "http://127.0.0.1:${PORT_OF[$1]}/v1/chat/completions" \
		-body "$(body "$1")" -H "Authorization: Bearer ${KEY_OF[$1]:-${KEY_OF[head]}}"
}
# Warm-up (connection pools, caches, the first batch of usage rows), then
# each target serves its N requests in turn, its counters zeroed just
# before: an idle Bulwark still runs its timers (key cache refresh, usage
# flush, barrier watch), which must not be charged to requests it did not
# serve while the others ran.
for n in "${NAMES[@]}"; do load "$n" 4 >/dev/null; done
sleep 1
SECS=$(((N + RATE - 1) / RATE))
for n in "${NAMES[@]}"; do
	callgrind_control -z "${PID_OF[$n]}" >/dev/null
	out=$(load "$n" "$SECS")
	sleep 1 # the usage writer's last batch of this run
	callgrind_control -d "${PID_OF[$n]}" >/dev/null
	reqs=$(python3 -c 'import json,sys;r=json.loads(sys.argv[1]);print(r["requests"] if r["errors"]==0 else -1)' "$out")
	[ "$reqs" -gt 0 ] || { echo "$n: failed requests: $out" >&2; exit 1; }
	echo "$n $reqs $(ls "$WORK/$n.cg".* | tail -1)" >>"$WORK/runs"
done

BIN_bare=$WORK/bareproxy BIN_head=$WORK/bulwark BIN_base=$WORK/bulwark-base
args=()
while read -r n reqs file; do
	bin_var=BIN_$n
	args+=("$n=$reqs:$file:${!bin_var}")
done <"$WORK/runs"
echo "callgrind, $BODY, $N requests at $RATE/s per target (tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal cmd || echo +dirty))"
python3 bench/callgrind_sum.py "${args[@]}"
if [ -n "${CG_KEEP:-}" ]; then
	mkdir -p "$CG_KEEP"
	while read -r n _ file; do
		bin_var=BIN_$n
		cp "$file" "$CG_KEEP/$n.cg"
		cp "${!bin_var}" "$CG_KEEP/$n.bin"
	done <"$WORK/runs"
	echo "dumps and binaries kept in $CG_KEEP (bench/callgrind_sum.py NAME=REQUESTS:DUMP:BINARY …)" >&2
fi
