# switchyard: a thin index of the project's commands. See README.md.
GO        ?= go
BIN       := bin/switchyard
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
GOBIN     := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2

export GOTOOLCHAIN = local
export GOFLAGS     = -buildvcs=false

.PHONY: all build test test-unit demo conformance-gateway generate bpf-toolchain check-generated lint bench deps install clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/switchyard
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/switchyard-cni ./cmd/switchyard-cni

# deps installs what the tests and the demo need on a fresh Debian host.
deps:
	@hack/deps.sh

# test runs every test: unit tests with -race, privileged tests (as root,
# inside sandbox namespaces) and the end-to-end tests against bin/switchyard.
test: deps build check-generated
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

test-unit:
	$(GO) test -race -count=1 ./controlplane/... ./ipam/... ./internal/cli/...

demo: deps build
	hack/demo.sh

# conformance-gateway runs the upstream Gateway API conformance suite
# (GATEWAY-HTTP and GATEWAY-GRPC profiles) against a sandbox node and
# writes its report to docs/conformance/. Not part of test: it takes long.
conformance-gateway: build
	hack/conformance-gateway.sh

generate: bpf-toolchain
	hack/update-openapi.sh
	$(GO) generate ./bpf/...

# bpf-toolchain installs what bpf2go needs: clang compiles, llvm-strip
# strips, libbpf-dev has bpf_helpers.h.
bpf-toolchain:
	@command -v clang >/dev/null && command -v llvm-strip >/dev/null && test -f /usr/include/bpf/bpf_helpers.h || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm libbpf-dev >/dev/null

# check-generated fails when the committed bpf2go output does not match
# bpf/c (skipped without clang).
check-generated:
	hack/check-bpf-generated.sh

lint:
	$(GO) vet ./...
	test -x $(GOBIN)/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck $$($(GO) list ./... | grep -v /generated)

# bench runs a short version of the benchmarks (the full ones: README,
# BENCHMARKS.md): Go benchmarks of the allocators and the service
# backends, then the service-routing benchmark at 1 and 1,000 services.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./ipam/...
	$(GO) test -run '^$$' -bench . -benchtime 5x ./dataplane/services/nftlb/ ./bpf/
	$(BIN) bench services --services 1,1000 --runs 1 --duration 2s --changes 3

# install puts the binaries in /usr/local/bin and the CNI plugin where CNI
# runtimes look for it.
install: build
	install -m 0755 $(BIN) /usr/local/bin/switchyard
	install -d /opt/cni/bin
	install -m 0755 bin/switchyard-cni /opt/cni/bin/switchyard-cni

clean:
	rm -rf bin bench-results
