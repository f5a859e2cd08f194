# Bulwark developer targets. The README's two commands are the contract;
# these are conveniences around them.
GO ?= go
GOLANGCI_VERSION ?= v2.15.0

.PHONY: run test lint bench bench-callgrind guard-eval fuzz build

build:
	$(GO) build -o bin/bulwark ./cmd/bulwark

run:
	$(GO) run ./cmd/bulwark serve

test:
	./scripts/test.sh

lint:
	$(GO) vet ./...
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION) run ./...

bench:
	./bench/run.sh

# Per-request instruction and simulated cache/branch counts (needs valgrind).
bench-callgrind:
	./bench/callgrind.sh

guard-eval:
	$(GO) run ./cmd/guard-eval

# Short fuzzing pass over every fuzz target (seed corpora run in `make test`).
fuzz:
	./scripts/fuzz.sh 20s
