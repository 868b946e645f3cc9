// Package simulator serves faithful simulators of every upstream spark
// drives (Genspark, the Gemini web app, Google accounts cookie rotation, the
// Gemini upload service, the official Google AI API) on one listener, with
// the real upstreams' own path layouts. It is what `spark simulate` runs and
// what the tests and `spark demo` point spark at.
//
// Behaviour contract (docs/simulators.md): deterministic echo of the last user
// message, `sim:` directives, account states by cookie value, and the request
// log at GET /_sim/requests.
package simulator

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/sparkgw/spark/internal/simulator/geminisim"
	"github.com/sparkgw/spark/internal/simulator/gensparksim"
	"github.com/sparkgw/spark/internal/simulator/googleaisim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// Options configure a Simulator.
type Options struct {
	// DeltaDelay is the pause between streamed deltas when a request gives no
	// sim:slow directive. Zero streams as fast as possible (benchmarks).
	DeltaDelay time.Duration
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// Simulator is the set of upstream simulators behind one http.Handler.
type Simulator struct {
	// Requests is the log of every request received, served at /_sim/requests.
	Requests *simcore.Recorder
	mux      *http.ServeMux
}

// New returns a Simulator with every upstream mounted.
func New(opts Options) *Simulator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{Requests: simcore.NewRecorder(0), mux: http.NewServeMux()}
	s.mux.Handle("/_sim/requests", s.Requests)
	gensparksim.New(gensparksim.Options{
		Recorder: s.Requests, DeltaDelay: opts.DeltaDelay, Logger: opts.Logger,
	}).Register(s.mux)
	geminisim.New(geminisim.Options{
		Recorder: s.Requests, DeltaDelay: opts.DeltaDelay, Logger: opts.Logger,
	}).Register(s.mux)
	googleaisim.New(googleaisim.Options{Recorder: s.Requests, Logger: opts.Logger}).Register(s.mux)
	return s
}

// ServeHTTP dispatches to the simulated upstream that owns the path.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}
