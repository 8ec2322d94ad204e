# Pinned code generators (see `make proto`).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
TOOLS_BIN := $(CURDIR)/.tools/bin
PROTO_FILES := proto/challenge/v1/challenge.proto proto/model/v1/model.proto proto/hostdata/v1/hostdata.proto

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/crunch-coordinator/coordinator/internal/buildinfo.Version=$(VERSION) \
           -X github.com/crunch-coordinator/coordinator/internal/buildinfo.Commit=$(COMMIT)

.PHONY: build test test-short proto proto-check tools vet fmt bench lint

build:
	go build -ldflags "$(LDFLAGS)" -o bin/coordinator ./cmd/coordinator

test:
	go test -race -count=1 -timeout 20m ./...

test-short:
	go test -short -count=1 ./...

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

# Fails when the committed generated code differs from a fresh `make proto`.
proto-check: proto
	git diff --exit-code -- proto/

vet:
	go vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

bench:
	go run ./internal/bench -out docs/benchmarks.md
