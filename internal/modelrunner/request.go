package modelrunner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/crunch-coordinator/coordinator/proto/modelrunner/commonspb"
	"github.com/crunch-coordinator/coordinator/proto/modelrunner/dynamicsubclasspb"
)

// Request is one DynamicSubclassService.Call request, marshaled once
// (NewCall, NewTick, NewPredict): the same bytes can be sent to any number
// of runners, concurrently (Client.Send). A fan-out sends the same tick
// input and the same predict arguments to every model, so encoding them
// once instead of once per model saves the Variant encoding, the JSON
// checks and the protobuf marshaling of every other call (issue 15: a
// thousand remote models). Read-only once built.
type Request struct {
	method string
	b      []byte // the marshaled dynamicsubclasspb.CallRequest
	// bs is b as the codec hands it to gRPC, built once: gRPC only reads
	// it (SliceBuffer's Ref and Free do nothing), so every send shares it
	// instead of boxing b again (two allocations per call).
	bs mem.BufferSlice
}

// Method is the called method ("tick", "predict", ...).
func (r *Request) Method() string { return r.method }

// NewCall marshals a call of method with positional args (positions
// 1..n) and keyword args (sorted by keyword).
func NewCall(method string, args []*commonspb.Variant, kwargs map[string]*commonspb.Variant) (*Request, error) {
	req := &dynamicsubclasspb.CallRequest{MethodName: method}
	for i, a := range args {
		req.MethodArguments = append(req.MethodArguments, &commonspb.Argument{Position: uint32(i + 1), Data: a})
	}
	keys := make([]string, 0, len(kwargs))
	for k := range kwargs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		req.MethodKwArguments = append(req.MethodKwArguments, &commonspb.KwArgument{Keyword: k, Data: kwargs[k]})
	}
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s request: %w", ErrArgument, method, err)
	}
	return &Request{method: method, b: b, bs: mem.BufferSlice{mem.SliceBuffer(b)}}, nil
}

// NewTick is the tick call with the inference input (a JSON object) as its
// single JSON argument (§6.2). An input that is not valid JSON is an
// ErrArgument error.
func NewTick(input json.RawMessage) (*Request, error) {
	v, err := JSONVariant(input)
	if err != nil {
		return nil, fmt.Errorf("%w: tick input: %w", ErrArgument, err)
	}
	return NewCall(MethodTick, []*commonspb.Variant{v}, nil)
}

// NewPredict is the predict call with the call builder's args as positions
// 1..n (ArgVariant) and the keys of kwargs (a JSON object; null, empty or
// {} for none) as keyword arguments. A value that cannot be encoded is an
// ErrArgument error naming it.
func NewPredict(args []json.RawMessage, kwargs json.RawMessage) (*Request, error) {
	vs := make([]*commonspb.Variant, len(args))
	for i, a := range args {
		v, err := ArgVariant(a)
		if err != nil {
			return nil, fmt.Errorf("%w: predict args[%d]: %w", ErrArgument, i, err)
		}
		vs[i] = v
	}
	var kw map[string]json.RawMessage
	if len(kwargs) > 0 && string(kwargs) != "null" {
		if err := json.Unmarshal(kwargs, &kw); err != nil {
			return nil, fmt.Errorf("%w: predict kwargs: expected a JSON object: %w", ErrArgument, err)
		}
	}
	kvs := make(map[string]*commonspb.Variant, len(kw))
	for k, a := range kw {
		v, err := ArgVariant(a)
		if err != nil {
			return nil, fmt.Errorf("%w: predict kwargs[%q]: %w", ErrArgument, k, err)
		}
		kvs[k] = v
	}
	return NewCall(MethodPredict, vs, kvs)
}

// Requests keeps the last tick and the last predict request it built, so
// the models of one fan-out share one encoding: a request whose input
// (tick) or args and kwargs (predict) have the same bytes as the last one
// is the same *Request (or the same error). A different request replaces
// the kept one. The zero value is ready; safe for concurrent use (two
// callers that miss at once may both encode; either result is kept).
type Requests struct {
	tick, predict atomic.Pointer[keptRequest]
}

// keptRequest is an immutable cache entry: the bytes the request was built
// from (copies), and the request or its error.
type keptRequest struct {
	args   []json.RawMessage // tick: the input alone
	kwargs json.RawMessage
	r      *Request
	err    error
}

func (k *keptRequest) matches(args []json.RawMessage, kwargs json.RawMessage) bool {
	if k == nil || len(k.args) != len(args) || !bytes.Equal(k.kwargs, kwargs) {
		return false
	}
	for i := range args {
		if !bytes.Equal(k.args[i], args[i]) {
			return false
		}
	}
	return true
}

func keep(args []json.RawMessage, kwargs json.RawMessage, r *Request, err error) *keptRequest {
	k := &keptRequest{args: make([]json.RawMessage, len(args)), kwargs: bytes.Clone(kwargs), r: r, err: err}
	for i, a := range args {
		k.args[i] = bytes.Clone(a)
	}
	return k
}

// Tick returns NewTick(input), built once per distinct input.
func (q *Requests) Tick(input json.RawMessage) (*Request, error) {
	in := []json.RawMessage{input}
	if k := q.tick.Load(); k.matches(in, nil) {
		return k.r, k.err
	}
	r, err := NewTick(input)
	q.tick.Store(keep(in, nil, r, err))
	return r, err
}

// Predict returns NewPredict(args, kwargs), built once per distinct args
// and kwargs.
func (q *Requests) Predict(args []json.RawMessage, kwargs json.RawMessage) (*Request, error) {
	if k := q.predict.Load(); k.matches(args, kwargs) {
		return k.r, k.err
	}
	r, err := NewPredict(args, kwargs)
	q.predict.Store(keep(args, kwargs, r, err))
	return r, err
}

// requestCodec sends a *Request's bytes as they are and marshals and
// unmarshals every other message with gRPC's protobuf codec. Its name is
// "proto": the content type is application/grpc+proto, which gRPC servers
// read as protobuf, as they read application/grpc.
type requestCodec struct{}

var protoCodec = encoding.GetCodecV2(protocodec.Name)

func (requestCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*Request); ok {
		return r.bs, nil
	}
	return protoCodec.Marshal(v)
}

func (requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return protoCodec.Unmarshal(data, v)
}

func (requestCodec) Name() string { return protocodec.Name }

// sendOptions are the call options of Send (one slice for every call):
// wait for a connecting channel within the deadline, send pre-marshaled
// requests.
var sendOptions = []grpc.CallOption{grpc.WaitForReady(true), grpc.ForceCodecV2(requestCodec{})}
