# Helpers shared by bench/run.sh and bench/callgrind.sh (sourced, not run).

# port prints a free loopback TCP port.
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }

# wait_port PORT [SECONDS, default 5]: wait until something listens on PORT.
wait_port() {
	local tries=$((${2:-5} * 20))
	for _ in $(seq "$tries"); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
	echo "port $1 never opened" >&2
	return 1
}

# bench_config UPSTREAM_PORT: the configuration every benchmarked Bulwark
# starts from — one OpenAI provider on the fake upstream, its key read from
# BENCH_UPSTREAM_KEY, and the default provider for bare model names.
bench_config() {
	cat <<YAML
log: {level: warn}
providers:
  - name: openai
    type: openai
    base_url: http://127.0.0.1:$1/v1
    api_key_env: BENCH_UPSTREAM_KEY
default_providers: {openai: openai}
YAML
}
