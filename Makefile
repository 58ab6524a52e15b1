# The targets are the interface: build plugin test bench fuzz lint run.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/ruled
UNIT    := $(shell $(GO) list ./... 2>/dev/null | grep -v '/test$$' | grep -v '/test/')

.PHONY: all build plugin run test unit e2e bench bench-falco fuzz lint setup clean load

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ruled

plugin:
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared -ldflags '$(LDFLAGS)' -o bin/libruled.so ./plugin

# Runs the agent on the embedded default rules (needs root for the live sources).
run: build
	./$(BIN)

# Everything CI runs: set-up (packages, dockerd, test image), lint, unit
# tests with the race detector, then the end-to-end tests as root on the
# real kernel and Docker. Whatever happens, the host's auditd is started
# again if set-up stopped it.
test:
	@rc=0; bash test/setup.sh && $(MAKE) lint unit e2e || rc=$$?; \
		bash test/auditd.sh restore || rc=1; exit $$rc

unit:
	$(GO) test -race -count=1 $(UNIT)

setup:
	bash test/setup.sh

e2e: build
	$(GO) test -count=1 -p 1 -timeout 15m -v ./test/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(UNIT)

# libruled.so and a trivial plugin-sdk-go plugin in the real Falco
# (../shared/falco) on the same 100,000 events, and standalone ruled -replay.
bench-falco:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 3 ./test/falcoreplay

# Load harness (root, not part of test): exec, connect and file-write storms
# against no agent, auditd, ruled and ruled -sources procconn side by side,
# one table. Flags go in LOAD_ARGS, e.g. LOAD_ARGS='-repeat 3 -profile prof'
# (./bin/load -h lists them; BENCHMARKS.md has the figures).
load: build
	$(GO) build -o bin/load ./test/load
	./bin/load -ruled $(BIN) $(LOAD_ARGS)

fuzz:
	@for p in $(UNIT); do \
		for f in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			echo "fuzz $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$p || exit 1; \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

# A FROM-scratch image (deploy/Dockerfile) of a static binary built here:
# no base image to pull, so it builds offline.
IMAGE ?= ruled:$(VERSION)
image:
	mkdir -p bin/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -s -w' -o bin/image/ruled ./cmd/ruled
	cp /etc/ssl/certs/ca-certificates.crt bin/image/
	docker build -q -f deploy/Dockerfile -t $(IMAGE) bin/image

clean:
	rm -rf bin
