package cluster

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Batching of the hot-path commands.
//
// Every request with a limited key costs Redis work twice: its admission
// (admitScript) and, when it ends, the release of its lease (a ZREM); an
// account with a concurrency limit adds slotScript and its release. Sent
// one by one, each is a write and a read system call on both sides, and
// on a shared two-core machine each wakes a Redis (and a gateway thread)
// that went idle meanwhile: measured on main with `go run ./bench -phases
// replicas` at 16 concurrent clients, these commands were 12.7% of the
// gateway's CPU (the ZREM as much as the admission) and Redis spent about
// 0.05 ms of CPU per request, and PostgreSQL + Redis mode served 0.65× the
// requests of embedded mode. Sent as one pipeline, admissions cost much
// less on both sides (measured: 36 µs of client CPU and 33 µs of Redis
// CPU for one lone admission, 20 and 23 µs each in pipelines of two, 7
// and 13 µs in pipelines of eight).
//
// A batcher coalesces the commands that callers issue at the same time
// into one pipeline, by leader and follower, with no timer:
//
//   - A caller whose command finds no flush in flight flushes at once,
//     on its own goroutine: a lone request still costs exactly one round
//     trip and waits for nothing else.
//   - Callers arriving while a flush is in flight queue up, each waiting
//     for its own result. When the flush ends, its flusher hands the
//     next batch (everything queued, at most maxBatch commands) to the
//     first caller waiting in the queue, which sends it: that caller is
//     woken once, as it would be for its result, and the last flusher
//     returns with its own result at once.
//   - One flush is in flight at a time: while it is, the next batch
//     gathers. (Two in flight measured no better: smaller batches.)
//
// Measured with the batcher, in the same benchmark (two runs): Redis CPU
// per 1000 requests 0.0487 s -> 0.0405 and 0.0386 s; these commands'
// share of the gateway's CPU about 9% (Admit 6%, Release 3%); the
// throughput ratio unchanged (0.652, 0.665): at c=16 the commands of a
// request rarely meet another's in flight, and PostgreSQL (the API key
// lookup, 14% of the gateway's CPU) costs more than Redis.
//
// Semantics stay those of one command at a time: a caller waits until
// Redis answered its command, so a released lease is gone from Redis
// before Release returns (a client that sends its next request after the
// response is never refused because of its previous one); every
// admission is still one script run, atomic on its own. Redis runs a
// pipeline's commands one after the other, as it would run the same
// commands sent on several connections.
type batcher struct {
	client *redis.Client

	mu    sync.Mutex
	queue []*command
	// inFlight: a flush is in flight, and its flusher will flush what
	// is queued meanwhile or hand it to a waiting caller.
	inFlight bool
}

// maxBatch bounds the commands sent in one pipeline (and so the memory
// and the Redis time one flush holds).
const maxBatch = 128

// A command's state: who owns it now. Every change but the leader's own
// (leading → waiting) is a compare-and-swap, so exactly one of the
// flusher and the caller decides each step.
const (
	waiting   int32 = iota // queued; its caller waits on signal
	leading                // its caller is to flush the next batch
	delivered              // res is its caller's
	abandoned              // nobody waits: settle (if any) gets res
)

// command is one Redis command in a batch: a script (EVALSHA, EVAL on
// NOSCRIPT) or a plain command.
type command struct {
	script *redis.Script // nil: args is the command
	keys   []string
	args   []any

	res    *redis.Cmd
	state  atomic.Int32
	signal chan struct{} // one send per change to leading or delivered
	// settle, if set, is called by the flusher with the result of a
	// command nobody waits for any more (its caller's context ended, or
	// it was sent detached): it undoes what the command took.
	settle func(*redis.Cmd)
	// done, if set, is called by the flusher with the command's result
	// before it is delivered (and before the results of the commands
	// after it in the batch are): what the command took for this replica
	// as a whole (borrowed admissions) is known locally before any later
	// command's caller looks.
	done func(*redis.Cmd)
}

func newBatcher(client *redis.Client) *batcher { return &batcher{client: client} }

// loadScripts puts scripts in Redis's script cache, so that EVALSHA
// finds them (a NOSCRIPT after a Redis restart is handled by exec). One
// plain command each, not a pipeline: loading them through a pipeline
// while opening measurably slowed every later operation (by about 60 µs
// at c=1, go-redis v9.23; cause not found).
func loadScripts(ctx context.Context, client *redis.Client, scripts ...*redis.Script) error {
	for _, s := range scripts {
		if err := s.Load(ctx, client).Err(); err != nil {
			return err
		}
	}
	return nil
}

// run sends c in the next batch and waits for its result.
//
// When ctx ends first, run returns ctx's error at once; c may still run,
// and then c.settle gets its result. A caller that flushes (the one that
// found no flush in flight, or the one the last flusher handed the next
// batch to) waits for its batch whatever ctx says, at most opTimeout, as
// a single command did before batching.
func (b *batcher) run(ctx context.Context, c *command) (*redis.Cmd, error) {
	c.signal = make(chan struct{}, 1)
	if b.enqueue(c) {
		b.lead()
	}
	for {
		select {
		case <-c.signal:
		case <-ctx.Done():
			if c.state.CompareAndSwap(waiting, abandoned) {
				return nil, ctx.Err()
			}
			<-c.signal // delivered, or handed the next batch, meanwhile
		}
		if c.state.Load() != leading {
			return c.res, nil
		}
		// The last flusher handed the flight over: c is in the next
		// batch, which this caller sends (so it is woken once, not once
		// to flush and once more for its result).
		c.state.Store(waiting)
		b.lead()
	}
}

// detach sends c in the next batch without waiting for it: its result
// goes to c.settle.
func (b *batcher) detach(c *command) {
	c.state.Store(abandoned)
	if b.enqueue(c) {
		go b.lead()
	}
}

// enqueue queues c and reports whether the caller is to flush: no flush
// was in flight (so the queue was empty); now one is.
func (b *batcher) enqueue(c *command) (flush bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queue = append(b.queue, c)
	if !b.inFlight {
		b.inFlight = true
		return true
	}
	return false
}

// lead is run by the holder of the flight: it flushes the next batch,
// then hands the flight to a caller waiting in the queue (or, when no
// caller waits there, flushes again) or ends it when the queue is empty.
func (b *batcher) lead() {
	for {
		b.flush()
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.inFlight = false
			b.mu.Unlock()
			return
		}
		for _, c := range b.queue[:min(len(b.queue), maxBatch)] {
			if c.state.CompareAndSwap(waiting, leading) {
				b.mu.Unlock()
				c.signal <- struct{}{}
				return
			}
		}
		b.mu.Unlock() // only detached or abandoned commands in the batch
	}
}

// flush sends the first maxBatch queued commands as one pipeline and
// delivers their results.
func (b *batcher) flush() {
	b.mu.Lock()
	n := min(len(b.queue), maxBatch)
	batch := make([]*command, n)
	copy(batch, b.queue)
	// Shift rather than reslice, so the queue's array does not grow
	// forever under constant load.
	m := copy(b.queue, b.queue[n:])
	clear(b.queue[m:])
	b.queue = b.queue[:m]
	b.mu.Unlock()
	b.exec(batch)
	for _, c := range batch {
		if c.done != nil {
			c.done(c.res)
		}
		if c.state.CompareAndSwap(waiting, delivered) {
			c.signal <- struct{}{}
		} else if c.settle != nil {
			c.settle(c.res)
		}
	}
}

// exec runs batch as one pipeline: a script by EVALSHA, and the scripts
// Redis did not know (NOSCRIPT: its script cache was flushed, or Redis
// restarted) again by EVAL, which also caches them, as
// [redis.Script.Run] does. A network failure sets every command's error.
func (b *batcher) exec(batch []*command) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, _ = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range batch {
			if c.script != nil {
				c.res = c.script.EvalSha(ctx, p, c.keys, c.args...)
			} else {
				c.res = p.Do(ctx, c.args...)
			}
		}
		return nil
	}) // each command's error is in its res
	var again []*command
	for _, c := range batch {
		if c.script != nil && redis.HasErrorPrefix(c.res.Err(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) == 0 {
		return
	}
	_, _ = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range again {
			c.res = c.script.Eval(ctx, p, c.keys, c.args...)
		}
		return nil
	})
}
