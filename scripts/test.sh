#!/usr/bin/env bash
# Runs Bulwark's whole test suite on a fresh Debian machine with Go:
# installs what the tests need (bubblewrap for the exec sandbox, git,
# PostgreSQL and Redis server binaries — tests start their own instances on
# random loopback ports in temp dirs), then vets and tests the main module
# and the e2e module (official SDKs against a running bulwark).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v git >/dev/null 2>&1 || need+=(git)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
  echo "installing test dependencies: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

export CI="${CI:-true}" # tests that need a server fail, never skip, when it is missing
go vet ./...
go test -count=1 -timeout 25m ./...
if [ -f e2e/go.mod ]; then
  (cd e2e && go vet ./... && go test -count=1 -timeout 15m ./...)
fi
