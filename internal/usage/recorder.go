// Package usage keeps spark's usage accounting: the Recorder that writes
// one record per client request to the store off the request path, in
// batches, and prunes records past their retention; the summaries and
// listings the dashboard reads (Summary, Requests, WriteCSV); and the
// dashboard's /api/usage routes.
package usage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// Recorder defaults.
const (
	DefaultQueueSize     = 8192
	DefaultBatchSize     = 500
	DefaultFlushInterval = time.Second
	DefaultPruneInterval = time.Hour
	// flushTimeout bounds one batch write.
	flushTimeout = 30 * time.Second
)

// Options configure a Recorder.
type Options struct {
	Store  store.UsageStore
	Logger *slog.Logger
	// QueueSize bounds the records waiting to be written; a record that
	// finds the queue full is dropped and counted (see Record).
	QueueSize int
	// BatchSize is how many records make a batch written at once; a
	// smaller batch is written every FlushInterval.
	BatchSize     int
	FlushInterval time.Duration
	// Retention prunes records (and daily roll-ups) older than this, at
	// start and then every PruneInterval; 0 keeps everything.
	Retention     time.Duration
	PruneInterval time.Duration
	// Claim, when set, is asked before each pruning whether this replica
	// is the one to run it (several replicas prune once between them);
	// nil: always.
	Claim func(ctx context.Context) bool
}

// Recorder writes usage records to the store on one goroutine, in batches
// of BatchSize or every FlushInterval, whichever comes first. Record never
// blocks a request: when the queue is full (the database cannot keep up)
// the record is dropped, counted and reported in a WARN line once per
// interval, rather than adding the database's delay to client requests.
// Close writes everything queued before it returns.
type Recorder struct {
	opts    Options
	log     *slog.Logger
	queue   chan store.UsageRecord
	dropped atomic.Int64 // since the last WARN
	lost    atomic.Int64 // dropped or failed to write, in total

	mu     sync.RWMutex // write-held by Close; read-held by Record to send
	closed bool

	quit chan struct{}
	done sync.WaitGroup
}

// NewRecorder starts a Recorder's writer (and pruner, with a retention).
func NewRecorder(opts Options) *Recorder {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = DefaultPruneInterval
	}
	r := &Recorder{opts: opts, log: opts.Logger, queue: make(chan store.UsageRecord, opts.QueueSize), quit: make(chan struct{})}
	r.done.Add(1)
	go r.write()
	if opts.Retention > 0 {
		r.done.Add(1)
		go r.prune()
	}
	return r
}

// Record queues rec to be written. It never blocks: it reports false when
// the record was dropped (queue full, or the Recorder closed).
func (r *Recorder) Record(rec store.UsageRecord) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.lost.Add(1)
		return false
	}
	select {
	case r.queue <- rec:
		return true
	default:
		r.dropped.Add(1)
		r.lost.Add(1)
		return false
	}
}

// Lost is the number of records dropped (queue full, closed) or that
// failed to be written, since the start.
func (r *Recorder) Lost() int64 { return r.lost.Load() }

// Close stops accepting records, writes every queued one and stops the
// pruner. It is safe to call more than once.
func (r *Recorder) Close() error {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if !already {
		close(r.quit)
	}
	r.done.Wait()
	return nil
}

// write is the writer goroutine.
func (r *Recorder) write() {
	defer r.done.Done()
	tick := time.NewTicker(r.opts.FlushInterval)
	defer tick.Stop()
	batch := make([]store.UsageRecord, 0, r.opts.BatchSize)
	flush := func() {
		if len(batch) > 0 {
			r.flush(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case rec := <-r.queue:
			if batch = append(batch, rec); len(batch) >= r.opts.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
			r.reportDropped()
		case <-r.quit:
			// Record no longer sends: what is queued is all there is.
			for {
				select {
				case rec := <-r.queue:
					if batch = append(batch, rec); len(batch) >= r.opts.BatchSize {
						flush()
					}
				default:
					flush()
					r.reportDropped()
					return
				}
			}
		}
	}
}

// flush writes one batch.
func (r *Recorder) flush(batch []store.UsageRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := r.opts.Store.AddUsage(ctx, batch); err != nil {
		r.lost.Add(int64(len(batch)))
		r.log.LogAttrs(ctx, slog.LevelError, "usage records not written", slog.Int("records", len(batch)), slog.Any("error", err))
	}
}

// reportDropped logs the records dropped since the last report.
func (r *Recorder) reportDropped() {
	if n := r.dropped.Swap(0); n > 0 {
		r.log.LogAttrs(context.Background(), slog.LevelWarn, "usage records dropped: the write queue was full",
			slog.Int64("records", n), slog.Int("queue", r.opts.QueueSize))
	}
}

// prune is the pruner goroutine.
func (r *Recorder) prune() {
	defer r.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.quit
		cancel()
	}()
	tick := time.NewTicker(r.opts.PruneInterval)
	defer tick.Stop()
	for {
		if r.opts.Claim == nil || r.opts.Claim(ctx) {
			cutoff := time.Now().Add(-r.opts.Retention)
			n, err := r.opts.Store.PruneUsage(ctx, cutoff)
			switch {
			case err != nil && ctx.Err() == nil:
				r.log.LogAttrs(ctx, slog.LevelError, "usage pruning failed", slog.Any("error", err))
			case n > 0:
				r.log.LogAttrs(ctx, slog.LevelInfo, "usage records pruned", slog.Int("records", n), slog.Time("before", cutoff))
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}
