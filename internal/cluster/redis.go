package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sparkgw/spark/internal/limit"
)

// Redis timeouts: a Redis that stops answering costs a request at most
// about opTimeout before the failure mode applies.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 500 * time.Millisecond
	opTimeout   = time.Second
	// warnEvery spaces the WARN lines of one failing operation.
	warnEvery = 10 * time.Second
	// breakFor is how long after a failure Redis is not asked at all (the
	// failure mode applies at once): a Redis that stopped answering costs
	// one timeout per breakFor, not one per request.
	breakFor = time.Second
)

// errBroken is what an operation returns while Redis is not asked.
var errBroken = errors.New("cluster: Redis failed within the last second; not asked")

// Redis is the [State] and the admitter shared by every replica through
// one Redis server.
type Redis struct {
	client *redis.Client
	// batch coalesces the hot-path commands (admissions, slots, their
	// releases) into pipelines; see batcher.
	batch  *batcher
	opts   Options
	origin string
	leases *leaseSet
	// local admits while Redis fails, with FailOpen.
	local *limit.MemoryAdmitter
	// held: per lease set, its size at this replica's latest take
	// (noteHeld), which says whether a release is waited for.
	heldMu sync.Mutex
	held   map[string]int64
	// credit: admissions borrowed for keys far from their limits (see
	// credit.go), given back by the sweep loop.
	credit    credits
	sweepQuit chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once

	warnMu   sync.Mutex
	lastWarn map[string]time.Time
	// downUntil (Unix ns): no operation asks Redis before it.
	downUntil atomic.Int64

	subMu sync.Mutex
	subs  map[*redis.PubSub]func() // subscription -> its stop
}

var _ State = (*Redis)(nil)

// Open connects to the Redis at rawURL (REDIS_URL: redis://, rediss:// or
// unix://) and checks that it answers.
func Open(ctx context.Context, rawURL string, opts Options) (*Redis, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: REDIS_URL: %s", redactURL(rawURL, err))
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = dialTimeout, ioTimeout, ioTimeout, ioTimeout
	ro.MaxRetries = 1
	ro.DisableIdentity = true
	client := redis.NewClient(ro)
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("cluster: Redis at REDIS_URL does not answer: %w", err)
	}
	if err := loadScripts(pctx, client, admitScript, slotScript, refundScript, lendScript); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("cluster: Redis at REDIS_URL does not load the admission scripts: %w", err)
	}
	r := &Redis{client: client, batch: newBatcher(client), opts: o, origin: newToken(), local: limit.NewMemoryAdmitter(o.Clock, 0), held: map[string]int64{},
		lastWarn: map[string]time.Time{}, subs: map[*redis.PubSub]func(){}}
	r.leases = newLeaseSet(o.RefreshEvery, r.refresh)
	r.credit.keys = map[string]*keyCredit{}
	r.sweepQuit, r.sweepDone = make(chan struct{}), make(chan struct{})
	go r.sweepLoop(r.sweepQuit, r.sweepDone)
	return r, nil
}

// redactURL returns err's text without the URL's password.
func redactURL(raw string, err error) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// fail counts and logs a failed operation (at most one WARN per
// operation every warnEvery).
func (r *Redis) fail(op string, err error) {
	if r.opts.OnFailure != nil {
		r.opts.OnFailure(op)
	}
	now := time.Now()
	r.downUntil.Store(now.Add(breakFor).UnixNano())
	r.warnMu.Lock()
	last, seen := r.lastWarn[op]
	due := !seen || now.Sub(last) >= warnEvery
	if due {
		r.lastWarn[op] = now
	}
	r.warnMu.Unlock()
	if due {
		msg := "Redis failed: state shared with the other replicas is unavailable"
		if op == "admit" && r.opts.FailureMode == FailOpen {
			msg = "Redis failed: admitting with this replica's own limits (REDIS_FAILURE_MODE=open)"
		} else if op == "admit" {
			msg = "Redis failed: refusing requests until it answers (REDIS_FAILURE_MODE=closed)"
		}
		r.opts.Logger.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("op", op), slog.String("error", err.Error()))
	}
}

// down reports whether Redis failed within the last breakFor.
func (r *Redis) down() bool { return time.Now().UnixNano() < r.downUntil.Load() }

// opCtx bounds one Redis operation.
func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
}

func (r *Redis) key(parts ...string) string {
	k := r.opts.Prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Ready reports whether Redis answers (for /readyz).
func (r *Redis) Ready(ctx context.Context) error {
	octx, cancel := opCtx(ctx)
	defer cancel()
	if err := r.client.Ping(octx).Err(); err != nil {
		return fmt.Errorf("cluster: Redis does not answer: %w", err)
	}
	r.downUntil.Store(0)
	return nil
}

// ---- admission ----

// LimitUnavailable is the Refusal.Limit of a request refused because
// Redis failed with FailClosed.
const LimitUnavailable = "shared_limits_unavailable"

// admitScript takes an Admission's limits in one step: every limit is
// checked before any is taken, the key's window counts the attempt
// whatever the outcome, as limit.MemoryAdmitter does. A window is a
// sorted set of attempt times (the newest limit kept); the key's
// requests in flight are a sorted set of tokens scored by the end of
// their lease.
//
// A window trimmed to its newest entries no longer knows of the attempts
// trimmed, so an entry may then no longer be removed (see refundScript):
// the key window's latest trim time is kept under KEYS[4].
//
// KEYS: IP window, key window, key leases, key window's trim time. ARGV: now, window, IP limit,
// key limit, key max in flight, token, lease end, lease TTL (ms), and,
// for an admission that may borrow (see credit): window entries wanted,
// leases wanted, the score of lent window entries (when their credit
// ends: the latest an attempt on them is made), the spare leases the
// replica holds already, then that many tokens. Answers {refusal ("" =
// admitted), wait (ms), the key's requests in flight with this one},
// and, when asked to lend, {..., window entries lent, leases lent, 1 if
// the key is roomy (at most half of each limit taken, not counting the
// asking replica's own spares) else 0}.
// Something is lent only while the key stays roomy with it.
var admitScript = redis.NewScript(luaLend + `
local now, win = tonumber(ARGV[1]), tonumber(ARGV[2])
local ipLimit, keyLimit, keyMax = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local token, leaseEnd, ttl = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local function wait(key, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - win)
  local n = redis.call('ZCARD', key)
  if n < limit then return 0 end
  local e = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  local d = tonumber(e[2]) + win - now
  if d > 0 then return d end
  return 0
end
local function add(key, limit, mark)
  redis.call('ZADD', key, now, token)
  if redis.call('ZREMRANGEBYRANK', key, 0, -(limit + 1)) > 0 and mark then
    redis.call('SET', mark, now, 'PX', win + 1000)
  end
  redis.call('PEXPIRE', key, win + 1000)
end
local refused, retry = '', 0
if ipLimit > 0 then
  local w = wait(KEYS[1], ipLimit)
  if w > 0 then refused, retry = 'ip', w end
end
if keyLimit > 0 then
  local w = wait(KEYS[2], keyLimit)
  if w > 0 and refused == '' then refused = 'key' end
  add(KEYS[2], keyLimit, KEYS[4])
  if refused == 'key' then retry = wait(KEYS[2], keyLimit) end
end
local held = 0
if refused == '' and keyMax > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  held = redis.call('ZCARD', KEYS[3])
  if held >= keyMax then refused, retry = 'conc', 1000 end
end
if refused ~= '' then return {refused, retry} end
if ipLimit > 0 then add(KEYS[1], ipLimit, nil) end
if keyMax > 0 then
  redis.call('ZADD', KEYS[3], leaseEnd, token)
  redis.call('PEXPIRE', KEYS[3], 2 * ttl)
end
held = held + 1
local wantWin, wantLease = tonumber(ARGV[9] or '0'), tonumber(ARGV[10] or '0')
if wantWin + wantLease == 0 then return {'', 0, held} end
local n = 0
if keyLimit > 0 then n = redis.call('ZCARD', KEYS[2]) end
return lend(KEYS[2], KEYS[3], now, win, keyLimit, keyMax, n, held - tonumber(ARGV[12]), held,
  wantWin, wantLease, tonumber(ARGV[11]), leaseEnd, ttl, 12)
`)

// Admitter returns the [limit.Admitter] whose limits hold across every
// replica sharing this Redis.
func (r *Redis) Admitter() limit.Admitter { return redisAdmitter{r} }

type redisAdmitter struct{ r *Redis }

// Admit implements [limit.Admitter] in one script run, or none for a key
// far from its limits when this replica holds borrowed credit for it
// (see credit). While Redis fails, FailOpen admits against this
// replica's own limits and FailClosed refuses with LimitUnavailable;
// neither returns an error but the context's.
func (a redisAdmitter) Admit(ctx context.Context, adm limit.Admission) (limit.Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := a.r
	ipLimit, keyLimit, keyMax := adm.IPPerMinute, adm.KeyPerMinute, adm.KeyMaxConcurrent
	if adm.IP == "" {
		ipLimit = 0
	}
	if adm.KeyID == "" {
		keyLimit, keyMax = 0, 0
	}
	if ipLimit <= 0 && keyLimit <= 0 && keyMax <= 0 {
		return noTicket{}, nil
	}
	now := r.opts.Clock.Now()
	lim := limits{perMinute: max(keyLimit, 0), maxConcurrent: max(keyMax, 0)}
	borrow := borrowable(ipLimit, lim)
	if borrow {
		if tk, ok := r.admitOnCredit(adm.KeyID, lim, now); ok {
			return tk, nil
		}
	}
	tok := newToken()
	leases := r.key("lease", "key", adm.KeyID)
	keys := []string{r.key("win", "ip", adm.IP), r.key("win", "key", adm.KeyID), leases, r.key("trim", "key", adm.KeyID)}
	if r.down() {
		return r.unavailable(ctx, adm)
	}
	c := &command{script: admitScript, keys: keys, args: []any{ms(now), limit.Window.Milliseconds(), max(ipLimit, 0),
		max(keyLimit, 0), max(keyMax, 0), tok, ms(now.Add(r.opts.LeaseTTL)), r.opts.LeaseTTL.Milliseconds()}}
	if borrow {
		if wantWin, wantLease, own := r.credit.wanted(adm.KeyID, lim, now); wantWin+wantLease > 0 {
			lent := newTokens(max(wantWin, wantLease))
			c.args = append(c.args, wantWin, wantLease, ms(now.Add(creditLife)), own)
			for _, t := range lent {
				c.args = append(c.args, t)
			}
			c.done = func(cmd *redis.Cmd) { r.deposit(adm.KeyID, lim, now, lent, wantWin, wantLease, cmd) }
		}
	}
	if keyMax > 0 {
		// The caller stopped waiting: an admission that took a lease
		// gives it back (or, if that fails, it lapses after its TTL).
		c.settle = func(cmd *redis.Cmd) {
			if res, err := cmd.Slice(); err == nil && len(res) >= 3 && res[0] == "" {
				r.dropDetached(lease{key: leases, token: tok})
			}
		}
	}
	cmd, err := r.batch.run(ctx, c)
	if err != nil {
		return nil, err
	}
	res, err := cmd.Slice()
	if err == nil && len(res) != 2 && len(res) != 3 && len(res) != 6 {
		err = fmt.Errorf("admission script answered %d values", len(res))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.fail("admit", err)
		return r.unavailable(ctx, adm)
	}
	refused, _ := res[0].(string)
	waitMS, _ := res[1].(int64)
	switch refused {
	case "":
	case "ip":
		return nil, &limit.Refusal{Limit: limit.LimitIPRate, RetryAfter: roundUp(waitMS)}
	case "key":
		// Credit this replica borrowed meanwhile (deposited before this
		// answer was delivered) still admits. The attempt then counts
		// twice in the window (the script logged it, and the borrowed
		// entry stays): removing either could lose an attempt the full
		// window trimmed.
		if borrow {
			if tk, ok := r.admitOnCredit(adm.KeyID, lim, now); ok {
				return tk, nil
			}
		}
		return nil, &limit.Refusal{Limit: limit.LimitKeyRate, RetryAfter: roundUp(waitMS)}
	default:
		// The script logged this attempt in the window: only a spare
		// lease is needed.
		if borrow {
			if tk, ok := r.admitOnSpare(adm.KeyID, lim); ok {
				return tk, nil
			}
		}
		return nil, &limit.Refusal{Limit: limit.LimitKeyConcurrency, RetryAfter: roundUp(waitMS)}
	}
	if keyMax <= 0 {
		return noTicket{}, nil
	}
	l := lease{key: leases, token: tok}
	if len(res) >= 3 {
		held, _ := res[2].(int64)
		r.noteHeld(leases, held)
	}
	r.leases.add(l)
	if borrow {
		return releaseTicket(r.creditReleaser(adm.KeyID, lim, l)), nil
	}
	return releaseTicket(r.releaser(l, keyMax)), nil
}

// Releases far from the limit are not waited for.
//
// A release normally waits until Redis removed its lease, so that a
// client whose next request reaches another replica right after the
// response is never refused because of its previous request. That wait
// is a second synchronous round trip per request: measured with `go run
// ./bench -phases replicas` (c=16, a key with max_concurrency 64, 16 in
// flight), not waiting for it took PostgreSQL + Redis mode from 0.78×
// to 0.83× the throughput of embedded mode and the added p50 at c=1 from
// 0.27 to 0.18 ms. It can only matter when the lease set is near its
// limit: a release is sent at once either way (in the next pipeline;
// this replica's later commands come after it), so another replica sees
// a stale lease for at most about one round trip, and only a request
// that finds the set full then is refused for it. So a release waits
// when the set held more than half its limit at this replica's latest
// take, or when the limit is below minAsyncRelease.
const minAsyncRelease = 4

// noteHeld remembers that the lease set under key held n leases at this
// replica's latest take.
func (r *Redis) noteHeld(key string, n int64) {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if len(r.held) >= maxHeldNoted {
		clear(r.held) // many keys: start over (the next takes note again)
	}
	r.held[key] = n
}

// maxHeldNoted bounds the lease sets whose count noteHeld keeps.
const maxHeldNoted = 10_000

// releaser returns the function that gives lease l (of a set limited to
// max) back, waiting for Redis only near the limit (see minAsyncRelease).
func (r *Redis) releaser(l lease, max int) func() {
	return r.leases.releaser(l, func(l lease) {
		r.heldMu.Lock()
		held, ok := r.held[l.key]
		r.heldMu.Unlock()
		if max >= minAsyncRelease && ok && 2*held <= int64(max) {
			r.dropDetached(l)
			return
		}
		r.drop(l)
	})
}

// unavailable admits while Redis fails, as the failure mode says.
func (r *Redis) unavailable(ctx context.Context, adm limit.Admission) (limit.Ticket, error) {
	if r.opts.FailureMode == FailClosed {
		return nil, &limit.Refusal{Limit: LimitUnavailable, RetryAfter: time.Second}
	}
	return r.local.Admit(ctx, adm)
}

// roundUp turns a wait in milliseconds into whole seconds, at least one.
func roundUp(waitMS int64) time.Duration {
	d := time.Duration(waitMS) * time.Millisecond
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

type noTicket struct{}

func (noTicket) Release() {}

type releaseTicket func()

func (t releaseTicket) Release() { t() }

// ---- leases (admission tickets, account slots) ----

// slotScript takes a lease among at most ARGV[2] under KEYS[1] and
// answers the leases held with it, or 0 when all are held.
// ARGV: now, max, token, lease end, lease TTL (ms).
var slotScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[5]))
return held + 1
`)

// TakeSlot implements [State].
func (r *Redis) TakeSlot(ctx context.Context, name string, max int) (func(), bool, error) {
	if r.leases.isClosed() {
		return nil, false, errClosed
	}
	if r.down() {
		return nil, false, errBroken
	}
	now := r.opts.Clock.Now()
	tok := newToken()
	key := r.key("lease", "slot", name)
	c := &command{script: slotScript, keys: []string{key}, args: []any{ms(now), max, tok, ms(now.Add(r.opts.LeaseTTL)),
		r.opts.LeaseTTL.Milliseconds()}}
	c.settle = func(cmd *redis.Cmd) { // the caller stopped waiting
		if n, err := cmd.Int(); err == nil && n > 0 {
			r.dropDetached(lease{key: key, token: tok})
		}
	}
	cmd, err := r.batch.run(ctx, c)
	if err != nil { // the caller is gone
		return nil, false, fmt.Errorf("cluster: take slot: %w", err)
	}
	n, err := cmd.Int()
	if err != nil {
		r.fail("take_slot", err)
		return nil, false, fmt.Errorf("cluster: take slot: %w", err)
	}
	if n == 0 {
		return nil, false, nil
	}
	l := lease{key: key, token: tok}
	r.noteHeld(key, int64(n))
	r.leases.add(l)
	return r.releaser(l, max), true, nil
}

// drop removes a released lease; it returns once Redis has (so the
// slot is free for the holder's next request, on any replica).
func (r *Redis) drop(l lease) {
	if r.down() {
		return // the lease lapses after its TTL
	}
	cmd, _ := r.batch.run(context.Background(), r.dropCommand(l)) // no error: the context never ends
	if err := cmd.Err(); err != nil {
		r.fail("release", err) // the lease lapses after its TTL
	}
}

// dropDetached removes a lease nobody holds any more (taken for a
// caller that stopped waiting) without waiting for Redis.
func (r *Redis) dropDetached(l lease) {
	if r.down() {
		return // the lease lapses after its TTL
	}
	c := r.dropCommand(l)
	c.settle = func(cmd *redis.Cmd) {
		if err := cmd.Err(); err != nil {
			r.fail("release", err) // the lease lapses after its TTL
		}
	}
	r.batch.detach(c)
}

func (r *Redis) dropCommand(l lease) *command {
	return &command{args: []any{"zrem", l.key, l.token}}
}

// refresh moves the end of every held lease to now + TTL, in one round
// trip; a lease that expired meanwhile is not taken again (XX).
func (r *Redis) refresh(ctx context.Context, ls []lease) error {
	if r.down() {
		return errBroken
	}
	end := float64(ms(r.opts.Clock.Now().Add(r.opts.LeaseTTL)))
	keep := 2 * r.opts.LeaseTTL
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		seen := map[string]bool{}
		for _, l := range ls {
			p.ZAddXX(ctx, l.key, redis.Z{Score: end, Member: l.token})
			if !seen[l.key] {
				seen[l.key] = true
				p.PExpire(ctx, l.key, keep)
			}
		}
		return nil
	})
	if err != nil {
		r.fail("refresh", err)
		return fmt.Errorf("cluster: refresh leases: %w", err)
	}
	return nil
}

// Refresh extends every lease this replica holds now (the background
// refresh does it every Options.RefreshEvery).
func (r *Redis) Refresh(ctx context.Context) error { return r.leases.refreshNow(ctx) }

// ---- passive health, rests, claims ----

// tripScript adds a failure at ARGV[1] to KEYS[1], forgets those at or
// before ARGV[2], and reports (and starts afresh) when ARGV[3] remain.
// ARGV[4] is the member, ARGV[5] the key's lifetime (ms).
var tripScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
`)

// TripFailure implements [State].
func (r *Redis) TripFailure(ctx context.Context, id string, at time.Time, window time.Duration, threshold int) (bool, error) {
	if r.down() {
		return false, errBroken
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	n, err := tripScript.Run(octx, r.client, []string{r.key("fails", id)}, ms(at), ms(at.Add(-window)), threshold,
		newToken(), (window + time.Minute).Milliseconds()).Int()
	if err != nil {
		r.fail("trip_failure", err)
		return false, fmt.Errorf("cluster: passive health: %w", err)
	}
	return n == 1, nil
}

// restScript sets KEYS[1][ARGV[1]] to the later of ARGV[2] and its
// value, forgets rests ended at ARGV[3], and returns the rest's end.
var restScript = redis.NewScript(`
local u = tonumber(ARGV[2])
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if cur > u then u = cur end
redis.call('HSET', KEYS[1], ARGV[1], u)
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], all[i]) end
end
return u
`)

// PublishRest implements [State].
func (r *Redis) PublishRest(ctx context.Context, id string, until time.Time) error {
	if r.down() {
		return errBroken
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	// Whole milliseconds, rounded up: no replica ends the rest earlier.
	u, err := restScript.Run(octx, r.client, []string{r.key("rests")}, id, ms(until.Add(time.Millisecond-1)), ms(r.opts.Clock.Now())).Int64()
	if err != nil {
		r.fail("publish_rest", err)
		return fmt.Errorf("cluster: publish rest: %w", err)
	}
	return r.Publish(ctx, Event{Kind: EventRest, ID: id, Until: time.UnixMilli(u)})
}

// Rests implements [State].
func (r *Redis) Rests(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	if r.down() {
		return nil, errBroken
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	all, err := r.client.HGetAll(octx, r.key("rests")).Result()
	if err != nil {
		r.fail("rests", err)
		return nil, fmt.Errorf("cluster: rests: %w", err)
	}
	out := map[string]time.Time{}
	for id, v := range all {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		if until := time.UnixMilli(n); until.After(now) {
			out[id] = until
		}
	}
	return out, nil
}

// ClearRest implements [State].
func (r *Redis) ClearRest(ctx context.Context, id string) error {
	if r.down() {
		return errBroken
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	if err := r.client.HDel(octx, r.key("rests"), id).Err(); err != nil {
		r.fail("clear_rest", err)
		return fmt.Errorf("cluster: clear rest: %w", err)
	}
	return nil
}

// claimScript claims KEYS[1] until ARGV[2] unless a claim lasts past
// ARGV[1]; ARGV[3] is the key's lifetime (ms).
var claimScript = redis.NewScript(`
local claimed = tonumber(redis.call('GET', KEYS[1]) or '0')
if claimed > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// Claim implements [State].
func (r *Redis) Claim(ctx context.Context, job string, period time.Duration) (bool, error) {
	if r.down() {
		return false, errBroken
	}
	now := r.opts.Clock.Now()
	octx, cancel := opCtx(ctx)
	defer cancel()
	n, err := claimScript.Run(octx, r.client, []string{r.key("job", job)}, ms(now), ms(now.Add(claimPeriod(period))),
		(period + time.Minute).Milliseconds()).Int()
	if err != nil {
		r.fail("claim", err)
		return false, fmt.Errorf("cluster: claim %s: %w", job, err)
	}
	return n == 1, nil
}

// ---- the change feed ----

// AccountsChanged implements [State].
func (r *Redis) AccountsChanged(ctx context.Context, id string) error {
	return r.Publish(ctx, Event{Kind: EventAccounts, ID: id})
}

// Publish implements [State].
func (r *Redis) Publish(ctx context.Context, ev Event) error {
	if r.down() {
		return errBroken
	}
	ev.Origin = r.origin
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("cluster: publish: %w", err)
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	if err := r.client.Publish(octx, r.key("events"), b).Err(); err != nil {
		r.fail("publish", err)
		return fmt.Errorf("cluster: publish: %w", err)
	}
	return nil
}

// Subscribe implements [State]. The subscription is in place when it
// returns (unless Redis failed: it is then retried in the background).
func (r *Redis) Subscribe(fn func(Event)) func() {
	ps := r.client.Subscribe(context.Background(), r.key("events"))
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	_, err := ps.Receive(ctx)
	if err != nil {
		r.fail("subscribe", err)
	}
	cancel()
	subscribed := err == nil
	d := newDispatcher(fn)
	ch := ps.ChannelWithSubscriptions()
	read := make(chan struct{})
	go func() {
		defer close(read)
		for msg := range ch {
			switch m := msg.(type) {
			case *redis.Subscription:
				// Subscribed again after the connection broke: events
				// published meanwhile are lost, so the subscriber is told
				// to re-read what it follows.
				if m.Kind == "subscribe" && subscribed {
					d.push(Event{Kind: EventAccounts})
				}
				subscribed = true
			case *redis.Message:
				var ev Event
				if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil || ev.Origin == r.origin {
					continue
				}
				d.push(ev)
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			r.subMu.Lock()
			delete(r.subs, ps)
			r.subMu.Unlock()
			_ = ps.Close()
			<-read
			d.stop()
		})
	}
	r.subMu.Lock()
	r.subs[ps] = stop
	r.subMu.Unlock()
	return stop
}

// Close implements [State]: it gives borrowed credit back, releases the
// leases still held (spare ones included), ends the
// subscriptions and closes the connections.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		close(r.sweepQuit)
		<-r.sweepDone
	})
	r.closeCredit()
	for _, l := range r.leases.close() {
		r.drop(l)
	}
	r.subMu.Lock()
	stops := make([]func(), 0, len(r.subs))
	for _, stop := range r.subs {
		stops = append(stops, stop)
	}
	r.subMu.Unlock()
	for _, stop := range stops {
		stop()
	}
	if err := r.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("cluster: close: %w", err)
	}
	return nil
}
