// Package proto holds the versioned gRPC contracts between the coordinator
// host and its plugins: challenge/v1 (the challenge callables), model/v1
// (participant models) and hostdata/v1 (feed records served by the host to
// plugins over the go-plugin broker). The generated Go code is committed;
// `make proto` regenerates it with pinned generator versions, and
// TestGeneratedCodeIsFresh fails when it is stale.
package proto
