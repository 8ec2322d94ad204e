.DEFAULT_GOAL := build

# Pinned code generators (see `make proto`).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
TOOLS_BIN := $(CURDIR)/.tools/bin
MODULE    := github.com/crunch-coordinator/coordinator
PROTO_FILES := proto/challenge/v1/challenge.proto proto/model/v1/model.proto proto/hostdata/v1/hostdata.proto
# The model-runner protocol (reference-system.md §6), rooted at proto/modelrunner
# so its imports match CrunchDAO's files ("commons.proto").
MR_PROTO_DIR   := proto/modelrunner
MR_PROTO_FILES := commons.proto dynamic_subclass.proto
# Python stubs of the local model runner (sdk/python). Messages come from
# protoc (3.21, matching Debian's python3-protobuf 4.21); the gRPC service
# stubs from Debian's python3-grpc-tools. health.proto is Python-only (Go uses
# grpc's own health package).
PY_PROTO_OUT := sdk/python/coordinator_runner/_proto
PYTHON_GRPC  ?= /usr/bin/python3

# The Go modules of this repository: the coordinator (.), the SDK plugin
# authors import (sdk) and the gRPC contracts (proto). The coordinator
# requires the other two through replace directives; go commands with ./...
# stay inside one module, so test, vet and tidy visit each.
GO_MODULES := . sdk proto

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/crunch-coordinator/coordinator/internal/buildinfo.Version=$(VERSION) \
           -X github.com/crunch-coordinator/coordinator/internal/buildinfo.Commit=$(COMMIT)

.PHONY: demo build test test-short tidy-check proto proto-check tools vet fmt bench lint

# The main job end to end: build, scaffold the btc-up demo workspace (baseline
# pack) under DEMO_DIR, replay DEMO_UNTIL's week of real one-minute BTC candles
# on the embedded SQLite store, verify the API and print the leaderboard.
# The Python example models join when Debian's python3-grpcio and
# python3-protobuf are installed; otherwise only the Go examples run.
DEMO_DIR   ?= $(or $(TMPDIR),/tmp)/coordinator-demo
DEMO_DATA  ?= $(CURDIR)/../shared/data/binance-us-BTCUSDT-1m-2023-03-01..21.csv
DEMO_UNTIL ?= 2023-03-08T00:00:00Z
DEMO_MODELS ?= $(shell /usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 && echo both || echo go)

demo: build
	@test -f "$(DEMO_DATA)" || { echo "demo: $(DEMO_DATA) not found: the shared data folder must be beside this checkout (or set DEMO_DATA)"; exit 1; }
	@[ "$(DEMO_MODELS)" != go ] || echo "demo: /usr/bin/python3 lacks grpc/protobuf (apt-get install python3-grpcio python3-protobuf): Go example models only"
	./bin/coordinator demo --output "$(DEMO_DIR)" --force --models $(DEMO_MODELS) --start \
	  --replay-file "$(DEMO_DATA)" --speed max --until $(DEMO_UNTIL) --exit-after-verify

build:
	go build -ldflags "$(LDFLAGS)" -o bin/coordinator ./cmd/coordinator

test:
	@set -e; for m in $(GO_MODULES); do echo "go test ($$m)"; (cd $$m && go test -race -count=1 -timeout 20m ./...); done

test-short:
	@set -e; for m in $(GO_MODULES); do (cd $$m && go test -short -count=1 ./...); done

# Fails when go.mod/go.sum of any module is not tidy.
tidy-check:
	@set -e; for m in $(GO_MODULES); do (cd $$m && go mod tidy -diff); done

tools:
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS_BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# Regenerates the committed Go code from the .proto contracts. Needs protoc
# (Debian: apt-get install protobuf-compiler).
proto: tools
	PATH="$(TOOLS_BIN):$$PATH" protoc -I proto \
	  --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  $(PROTO_FILES)
	PATH="$(TOOLS_BIN):$$PATH" protoc -I $(MR_PROTO_DIR) \
	  --go_out=. --go_opt=module=$(MODULE) \
	  --go-grpc_out=. --go-grpc_opt=module=$(MODULE) \
	  $(MR_PROTO_FILES)
	rm -f $(PY_PROTO_OUT)/*_pb2*.py
	protoc -I $(MR_PROTO_DIR) --python_out=$(PY_PROTO_OUT) $(MR_PROTO_FILES) health.proto
	$(PYTHON_GRPC) -m grpc_tools.protoc -I $(MR_PROTO_DIR) -I /usr/include \
	  --grpc_python_out=$(PY_PROTO_OUT) dynamic_subclass.proto health.proto
	# The generators write top-level imports; the stubs live in a package.
	sed -i -E 's/^import (commons_pb2|dynamic_subclass_pb2|health_pb2) as /from . import \1 as /' $(PY_PROTO_OUT)/*_pb2*.py

# Fails when the committed generated code differs from a fresh `make proto`.
proto-check: proto
	git diff --exit-code -- proto/ $(PY_PROTO_OUT)

vet:
	@set -e; for m in $(GO_MODULES); do (cd $$m && go vet ./...); done

fmt:
	gofmt -l -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

bench:
	go run ./cmd/coordinator-bench -out docs/benchmarks.md
