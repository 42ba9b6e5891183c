# edgecache: `make run` starts the packager with its demo stream and the edge
# in front of it; `make test` installs what the tests need and runs them.

GO       ?= go
BIN      := bin
# The product module and, through go.work, the modules beside it: the
# benchmarks (gonum plots), the Kubernetes checks and the end-to-end tests.
# ./... stops at a module boundary, so each is named.
MODULES  := . ./bench ./deploy/k8s ./e2e
PKGS     := $(addsuffix /...,$(MODULES))
# Addresses for `make run` (127.0.0.1:8080 is often taken; avoid it).
EDGE_ADDR     ?= 127.0.0.1:8081
ADMIN_ADDR    ?= 127.0.0.1:9091
ORIGIN_HTTP   ?= 127.0.0.1:8088
ORIGIN_RTMP   ?= 127.0.0.1:1935

.PHONY: race all build image k8s-check run test test-deps unit bench bench-smoke bench-compare bench-compare-quick bench-soak fleet-test fleet-test-short fuzz-smoke vet fmt clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

# image builds static binaries here and assembles a FROM-scratch image with
# buildah (no base image is pulled).
image:
	scripts/image.sh

# k8s-check renders deploy/k8s with kustomize and dry-runs every overlay
# against a real kube-apiserver (built once into a cache outside the repo).
k8s-check:
	scripts/k8s-check.sh

run: build
	EDGE_ADDR=$(EDGE_ADDR) ADMIN_ADDR=$(ADMIN_ADDR) ORIGIN_HTTP=$(ORIGIN_HTTP) ORIGIN_RTMP=$(ORIGIN_RTMP) \
		scripts/run.sh

# test-deps installs the real tools the end-to-end tests drive (ffmpeg and
# ffprobe today). It needs root, as CI has; tests fail with a clear message
# when a tool is missing rather than skip.
test-deps:
	@scripts/test-deps.sh

test: test-deps vet
	$(GO) test -count=1 -p 1 -timeout 20m $(PKGS)

# unit runs the product module's tests that need no external tool and no
# heavy load: -short skips, by name, the ones that drive ffmpeg, players or
# podman (make test runs them all).
unit:
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# bench-compare runs edgecache against nginx and Varnish on this machine and
# writes a report to bench/results/ (full: under 25 minutes).
bench-compare:
	bench/compare.sh

bench-compare-quick:
	bench/compare.sh -quick

# bench-soak holds a constant load with cache churn on edgecache for 10
# minutes and fails if its RSS grew more than 2% after the warm-up
# (bench/results/soak-DATE.md).
bench-soak:
	bench/compare.sh -soak 10m

# fleet-test runs two packagers, two shields and three edges on loopback
# addresses with 300 simulated viewers for 4 minutes, kills the primary
# packager and an edge, rolls the shields, and writes the report to
# bench/results/ (bench/README.md); it fails when a goal is missed.
# fleet-test-short is the CI version (60 s, 90 viewers, two edges); it
# fails only when the fleet cannot start, and prints missed goals.
FLEET_FLAGS ?=
fleet-test: build
	cd bench && $(GO) run ./cmd/fleet -edge ../$(BIN)/edgecache -packager ../$(BIN)/packager \
		-out results/fleet-$$(date -u +%Y-%m-%d) $(FLEET_FLAGS)

fleet-test-short: build
	cd bench && $(GO) run ./cmd/fleet -edge ../$(BIN)/edgecache -packager ../$(BIN)/packager -short $(FLEET_FLAGS)

# bench-smoke runs every benchmark once, as CI does, so none rots.
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime=1x $(PKGS)

# fuzz-smoke runs every fuzz target in the repository briefly (FUZZTIME
# each). Their seed corpora also run as plain tests in `make test`.
FUZZTIME ?= 10s
fuzz-smoke:
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; done

# race runs the race detector over the packages that run goroutines of
# their own (CI runs it after make test). -short leaves out the tests that
# drive external tools; make test runs those.
RACE_PKGS := ./cache/... ./proxy/... ./manifest/... ./origin/... ./internal/... ./upstream/... ./accesslog/... ./auth/... ./cmcd/...
race:
	$(GO) test -race -short -count=1 -timeout 20m $(RACE_PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
