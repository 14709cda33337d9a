# Vigil. `make test` is what CI runs: unit tests with the race detector, then the integration tests against a real
# Apache Kafka and a real search engine that testenv/run starts (and stops) itself.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO      ?= go
BIN     ?= bin/vigil
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all build test unit fuzz integration lint bench bench-e2e quickstart clean

all: lint build test

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/vigil

test: lint unit fuzz integration

unit:
	$(GO) test -race -count=1 ./...

# Each record decoder's fuzz target, briefly (about 30 s in all); `make fuzz FUZZTIME=10m` searches longer. A count,
# not a duration: a duration that ends while the fuzzer minimizes an input makes go test fail with "context deadline
# exceeded" on a busy machine, which finds nothing.
FUZZTIME ?= 20000x
FUZZ_TARGETS := FuzzSyslog FuzzCEF FuzzLEEF FuzzKV FuzzHEC FuzzLines
# The fast paths held to a slower reference: the record reader's scanner, and the JSON decoder's strings.
FUZZ_REFERENCE := ./ingest/:FuzzRecordReader ./fields/:FuzzParseString
fuzz:
	@for f in $(FUZZ_TARGETS); do $(GO) test -run=NONE -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) ./formats/ || exit 1; done
	@for t in $(FUZZ_REFERENCE); do $(GO) test -run=NONE -fuzz="^$${t#*:}\$$" -fuzztime=$(FUZZTIME) $${t%%:*} || exit 1; done

# Verbose, so the log names each integration test that ran against the real servers (none may skip: testenv/run
# sets VIGIL_REQUIRE_INTEGRATION=1); the RUN/PAUSE/CONT lines are left out.
integration:
	testenv/run -- $(GO) test -tags integration -count=1 -timeout 40m -v ./... | grep -Ev '^=== (RUN|PAUSE|CONT|NAME)'

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

bench: build
	$(BIN) bench

# The end-to-end benchmark on the real servers (docs/benchmarks.md): testenv/run starts Kafka, OpenSearch and
# Elasticsearch 7.17, and `vigil bench e2e` runs this build's `vigil run` and `vigil replay` against them (a few
# minutes). BENCH_E2E_FLAGS passes flags, e.g. BENCH_E2E_FLAGS='--events 20000 --json'.
BENCH_E2E_FLAGS ?=
bench-e2e: build
	testenv/run -- $(BIN) bench e2e $(BENCH_E2E_FLAGS)

quickstart:
	$(GO) run ./cmd/vigil run -c configs/quickstart.yaml

clean:
	rm -rf bin alerts.jsonl deadletters.jsonl
