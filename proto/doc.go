// Package proto is the root of the proto module
// (github.com/crunch-coordinator/coordinator/proto), which the SDK module
// and the coordinator require. It holds the versioned gRPC contracts
// between the coordinator host and its plugins: challenge/v1 (the challenge callables), model/v1
// (participant models) and hostdata/v1 (feed records served by the host to
// plugins over the go-plugin broker). modelrunner/ holds CrunchDAO's
// model-runner protocol (packages commons and dynamic_subclass,
// wire-compatible with reference-system.md §6.1; Go in commonspb and
// dynamicsubclasspb, Python stubs in sdk/python) plus a Python-only copy of
// grpc.health.v1. The generated Go code is committed;
// `make proto` regenerates it (and the Python stubs) with pinned generator
// versions, and TestGeneratedCodeIsFresh / TestPythonStubsAreFresh fail
// when it is stale.
package proto
