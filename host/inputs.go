package host

import (
	"context"
	"slices"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// maxInputsBytes bounds the inference inputs one BuildInferenceInputs call
// may hold in host memory; the cycles past it get their inputs one by one.
const maxInputsBytes = 64 << 20

// BuildInferenceInputs returns the inference inputs of the cycles at
// times, made by the plugin in one call (sdk.MethodBuildInferenceInputs):
// for each time, what ProvideRawInput then BuildInferenceInput at that
// time answer, the plugin reading the feed as stored at that time (see the
// method's doc in proto/challenge/v1/challenge.proto), checked by the same
// boundary. It returns nil when the plugin does not serve the method or
// either callable is not routed to it (sdk.Defaults runs it), and else the
// answers of a prefix of times, in order: a stream that fails, an answer
// later than the cycle's deadlines (ProvideRawInput's plus
// BuildInferenceInput's, counted from the previous answer) or answers
// over maxInputsBytes end it. The caller makes the calls of the other
// cycles, and of a cycle whose answer is an error, one by one, where any
// failure is classified as usual: this call charges nothing to the
// plugin's restarts or stop rules.
func (c *Challenge) BuildInferenceInputs(ctx context.Context, times []time.Time) []wire.InputAnswer {
	if len(times) == 0 || !c.serves(sdk.CallableProvideRawInput) || !c.serves(sdk.CallableBuildInferenceInput) {
		return nil
	}
	s := c.sup
	s.mu.Lock()
	in := s.cur
	ok := s.admitsLocked() == nil && in != nil && !in.exited() && in.chal != nil &&
		slices.Contains(in.cdesc.OptionalMethods, sdk.MethodBuildInferenceInputs)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	provideTO, buildTO := s.opts.timeoutFor(sdk.CallableProvideRawInput), s.opts.timeoutFor(sdk.CallableBuildInferenceInput)
	sctx, cancel := context.WithTimeout(ctx, time.Duration(len(times))*(provideTO+buildTO))
	defer cancel()
	call, err := in.chal.OpenBuildInferenceInputs(sctx, times, provideTO, buildTO)
	if err != nil {
		s.log.Warn("BuildInferenceInputs not opened: the cycles' inputs are made one by one", "error", err)
		return []wire.InputAnswer{}
	}
	out := make([]wire.InputAnswer, 0, len(times))
	size := 0
	for range times {
		t := time.AfterFunc(provideTO+buildTO, cancel)
		a, err := call.Next()
		late := !t.Stop()
		if err != nil || late {
			if ctx.Err() == nil {
				s.log.Warn("BuildInferenceInputs ended early: the remaining cycles' inputs are made one by one",
					"answered", len(out), "cycles", len(times), "late", late, "error", err)
			}
			break
		}
		if size += len(a.Input); size > maxInputsBytes {
			break
		}
		out = append(out, a)
	}
	return out
}
