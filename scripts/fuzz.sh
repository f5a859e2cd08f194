#!/usr/bin/env bash
# Runs every Fuzz* target for a short time each (default 20s).
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-20s}"
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== $pkg $f"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"
  done
done
