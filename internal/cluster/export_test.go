package cluster

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// OnPipeline makes every pipeline r sends go through fn, which sends it
// by calling next (or not): tests hold a batch in flight, break Redis
// under it, or see what it carried.
func OnPipeline(r *Redis, fn func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error) {
	r.client.AddHook(pipelineHook(fn))
}

type pipelineHook func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error

func (h pipelineHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h pipelineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h pipelineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { return h(ctx, cmds, next) }
}

// Queued is how many commands wait for r's next batch.
func Queued(r *Redis) int {
	r.batch.mu.Lock()
	defer r.batch.mu.Unlock()
	return len(r.batch.queue)
}

// Sweep gives back r's borrowed credit unused for a second by r's clock
// (as the sweep loop does every quarter second), and returns once Redis
// has removed it.
func Sweep(r *Redis) {
	r.sweep(r.opts.Clock.Now())
	Settle(r)
}

// Settle returns once every command r sent so far without waiting has
// been run by Redis (the batcher sends in order, one pipeline at a time).
func Settle(r *Redis) {
	_, _ = r.batch.run(context.Background(), &command{args: []any{"ping"}})
}
