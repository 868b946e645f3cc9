package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sparkgw/spark/internal/limit"
)

// Borrowed admission credit, for keys far from their limits.
//
// Each admission through Redis costs one admitScript run, and Redis spends
// about 16 µs of CPU on it (mostly the Lua call itself), which the
// replica waits for. Measured with `go run ./bench -phases replicas` (c=16,
// a key with rpm 87,000 and max_concurrency 64, no IP limit): PostgreSQL +
// Redis mode served 0.83× the requests of embedded mode, 1.01× without key
// limits, and still only 0.88× when the admission was not waited for at
// all: the Redis work per request had to drop, not only the wait.
//
// So when a key is far from its limits, a replica takes admissions for it
// from Redis in small blocks and hands them out itself:
//
//   - Only admissions with no IP limit, for keys whose every set limit is
//     large (rpm ≥ minBorrowRate, max_concurrency ≥ minBorrowConcurrency),
//     borrow; every other admission takes the exact path, unchanged.
//   - The admission script, after admitting a request, lends up to
//     lim.lendWin() more window entries (attempts logged in advance, under
//     tokens the replica chose, scored at the end of their credit life,
//     creditLife from now) and up to lim.spares() more leases (spare slots
//     held in Redis by this replica), as many as the replica lacks less
//     what its admissions in flight already asked for, while the key
//     stays roomy with them: at most half of each set limit taken, not
//     counting the asking replica's own spares (idle, at most a quarter
//     of max_concurrency). It answers what it lent and whether the key is
//     roomy. The flusher
//     records the loan (command.done) before it delivers any later answer
//     to this replica.
//   - An admission that finds, locally, a window entry borrowed less than
//     creditLife ago (when rpm is set) and a spare lease (when
//     max_concurrency is set) takes them, with no script run, no command
//     and no wait. The spare becomes the request's lease; spares are
//     refreshed like every held lease.
//   - A release, while the latest script answer (less than creditLife old)
//     said roomy and fewer than lim.spares() spares are kept, keeps the lease
//     as a spare instead of removing it.
//   - An admission the script refuses is still admitted on credit this
//     replica holds. Credit is lent only while the key is at most half
//     full and a refusal needs it full, so the refusal comes after the
//     loan in Redis's order and finds it recorded: credit is not left
//     idle while its own replica's requests are refused. (After a rate
//     refusal the attempt then counts twice in the window, conservative.)
//   - Window entries and spares unused for creditLife are given back by
//     a sweep every sweepEvery, without waiting; Close gives back
//     everything. Window entries are removed by refundScript, which
//     leaves them (to age out) when the full window was trimmed since
//     they were borrowed: trimming dropped older attempts in their
//     favour, and removing them would then undercount.
//
// Why the limits still hold across replicas:
//
//   - Concurrency: every request in flight holds its own lease in Redis
//     (its spare, or the script's), and spares only add to the count; the
//     script adds leases only after checking the count, so the set never
//     holds more than the limit.
//   - Rate: every admitted attempt has an entry in the window from before
//     it was made, scored no earlier than the attempt (an entry is used
//     only within its credit life, and is scored at its end), so the
//     window never counts fewer attempts than were made: an attempt on
//     credit counts for 60 s from at most creditLife after it was made
//     (conservative by at most a second). Unused borrowed entries count
//     until given back (conservative).
//   - A replica borrows only while the key is at most half full (its own
//     spares aside) and keeps at most a quarter of max_concurrency as
//     spares: another replica is refused because of credit only past
//     half the limit, and, for credit its holder does not use, for about
//     creditLife (the sweep).
//
// While Redis fails, credit held may still be used until it is
// creditLife old; past that, the failure mode applies as for every
// admission. A command sent without waiting that fails is counted by
// fail. A key's credit is kept for the limits it was lent under: when they
// change, it is not used, and the next loan gives it back.
//
// Measured with the same benchmark, one run each: throughput 0.83× ->
// 0.94× embedded mode at c=16 with attempts re-dated by a ZADD each (the
// first version of this), Redis CPU per 1000 requests 0.0295 -> 0.0220 s;
// added p50 of the admission alone 0.079 -> 0.0006 ms, of a whole request
// at c=1 0.17 -> 0.015 ms. BenchmarkAdmit, key without an IP limit,
// through Redis: 91 -> 14 µs per admission and release at c1, 25 -> 12
// µs at c16. Scoring borrowed entries at the end of their credit life
// instead of re-dating them removed that ZADD (4.5 µs of Redis CPU per
// request on a window of 20,000 entries); blocks that grow with the
// limits, asks that concurrent misses share, early refills and spares up
// to a quarter of max_concurrency took the script runs from a quarter of
// the requests to under 1%: 0.936× embedded, Redis 0.0127 s of CPU per
// 1000 requests, in one run.
const (
	minBorrowRate        = 64
	minBorrowConcurrency = 16
	// Blocks: a key's credit grows with its limits, between minBlock and
	// maxWinBlock window entries (1/256 of its rpm) and up to
	// maxSpareBlock spares (a quarter of its max_concurrency). With 8 of
	// each, 16 clients at 3,800 requests/s ran the script for a quarter of
	// their requests: they finish and start in bursts, and miss together
	// when a block runs out.
	minBlock      = 8
	maxWinBlock   = 64
	maxSpareBlock = 32
	creditLife    = time.Second
	sweepEvery    = 250 * time.Millisecond
	// maxCreditKeys bounds the keys with credit; past it, new keys take
	// the exact path until the sweep forgets idle ones.
	maxCreditKeys = 10_000
)

// limits are the key limits of an admission that may borrow.
type limits struct{ perMinute, maxConcurrent int }

// lendWin is how many window entries a replica borrows at most.
func (l limits) lendWin() int { return min(max(l.perMinute/256, minBlock), maxWinBlock) }

// spares is how many spare leases a replica keeps at most.
func (l limits) spares() int { return min(max(l.maxConcurrent/4, 1), maxSpareBlock) }

// borrowable reports whether an admission with ipLimit and lim may use
// borrowed credit.
func borrowable(ipLimit int, lim limits) bool {
	switch {
	case ipLimit > 0, lim.perMinute <= 0 && lim.maxConcurrent <= 0:
		return false
	case lim.perMinute > 0 && lim.perMinute < minBorrowRate:
		return false
	case lim.maxConcurrent > 0 && lim.maxConcurrent < minBorrowConcurrency:
		return false
	}
	return true
}

// stamped is a borrowed token and when it was borrowed (a window entry)
// or last freed (a spare lease).
type stamped struct {
	token string
	at    time.Time
}

func fresh(at, now time.Time) bool { return now.Sub(at) < creditLife }

// keyCredit is what one replica borrowed for one key.
type keyCredit struct {
	lim limits
	// win: window entries logged for attempts not made yet, oldest first.
	win []stamped
	// spares: leases held in Redis and refreshed, not in use; the newest
	// is used first, so the others age and are given back.
	spares   []stamped
	roomy    bool
	answered time.Time // of the latest script answer
	// askedWin and askedLeases: asked of the script by admissions whose
	// answer is not yet deposited.
	askedWin, askedLeases int
}

// credits is a replica's borrowed credit, by key id.
type credits struct {
	mu     sync.Mutex
	keys   map[string]*keyCredit
	closed bool
}

// refund is credit to give back to Redis: window entries (borrowed at
// since or later) and spare leases of key id.
type refund struct {
	id          string
	win, leases []string
	since       time.Time
}

// add adds window entry s to f.
func (f *refund) add(s stamped) {
	if len(f.win) == 0 || s.at.Before(f.since) {
		f.since = s.at
	}
	f.win = append(f.win, s.token)
}

// refundScript removes borrowed window entries (ARGV[2:]) from the key
// window KEYS[1] unless the window was trimmed (KEYS[2], set by
// admitScript) at or after ARGV[1], when the oldest was borrowed: a
// trimmed window dropped older attempts in their favour, so they then
// stay until they age out (conservative). Answers the entries removed.
var refundScript = redis.NewScript(`
local trimmed = tonumber(redis.call('GET', KEYS[2]) or '-1')
if trimmed >= tonumber(ARGV[1]) then return 0 end
return redis.call('ZREM', KEYS[1], unpack(ARGV, 2))
`)

// lendScript lends credit with no admission: an early refill, sent
// without waiting when a replica's credit for a key runs low, so that its
// admissions do not run out together and each run the admission script.
// The same rule as admitScript's loan: only while the key stays roomy
// with it (at most half of each set limit taken).
//
// KEYS: key window, key leases. ARGV: now, window, key limit, key max in
// flight, score of lent window entries, lease end, lease TTL (ms), window
// entries wanted, leases wanted, the spare leases the replica holds
// already, then that many tokens. Answers as
// admitScript does when asked to lend: {"", 0, leases held, window
// entries lent, leases lent, 1 if roomy else 0}.
var lendScript = redis.NewScript(luaLend + `
local now, win = tonumber(ARGV[1]), tonumber(ARGV[2])
local keyLimit, keyMax = tonumber(ARGV[3]), tonumber(ARGV[4])
local lentAt, leaseEnd, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local wantWin, wantLease, own = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local n, held = 0, 0
if keyLimit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
  n = redis.call('ZCARD', KEYS[1])
end
if keyMax > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  held = redis.call('ZCARD', KEYS[2])
end
return lend(KEYS[1], KEYS[2], now, win, keyLimit, keyMax, n, held - own, held, wantWin, wantLease, lentAt, leaseEnd, ttl, 10)
`)

// luaLend is the loan both admitScript and lendScript make, as a Lua
// function: while the key stays roomy (at most half of each set limit
// taken, busy being the leases held less the asking replica's own
// spares), up to wantWin window entries scored lentAt and up to
// wantLease leases ending at leaseEnd, under the tokens ARGV[first+1]
// onwards. n is the key window's count, held its leases. It answers
// {"", 0, held, window entries lent, leases lent, 1 if roomy else 0}.
const luaLend = `
local function lend(winKey, leaseKey, now, win, keyLimit, keyMax, n, busy, held, wantWin, wantLease, lentAt, leaseEnd, ttl, first)
  if (keyLimit > 0 and 2 * n > keyLimit) or (keyMax > 0 and 2 * busy > keyMax) then
    return {'', 0, held, 0, 0, 0}
  end
  local lentWin, lentLease = 0, 0
  if keyLimit > 0 then lentWin = math.max(0, math.min(wantWin, math.floor(keyLimit / 2) - n)) end
  if keyMax > 0 then lentLease = math.max(0, math.min(wantLease, math.floor(keyMax / 2) - busy)) end
  if lentWin > 0 then
    local a = {}
    for i = 1, lentWin do a[#a + 1] = lentAt; a[#a + 1] = ARGV[first + i] end
    redis.call('ZADD', winKey, unpack(a))
    redis.call('PEXPIRE', winKey, lentAt - now + win + 1000)
  end
  if lentLease > 0 then
    local a = {}
    for i = 1, lentLease do a[#a + 1] = leaseEnd; a[#a + 1] = ARGV[first + i] end
    redis.call('ZADD', leaseKey, unpack(a))
    redis.call('PEXPIRE', leaseKey, 2 * ttl)
  end
  return {'', 0, held, lentWin, lentLease, 1}
end
`

// low reports whether kc's credit at now has run below half a block of
// what lim needs, with no loan asked for: time to refill early.
func (kc *keyCredit) low(lim limits, now time.Time) bool {
	if kc.askedWin > 0 || kc.askedLeases > 0 || !kc.roomy || !fresh(kc.answered, now) {
		return false
	}
	if lim.perMinute > 0 {
		n := 0
		for _, s := range kc.win {
			if fresh(s.at, now) {
				n++
			}
		}
		if 2*n < lim.lendWin() {
			return true
		}
	}
	return lim.maxConcurrent > 0 && 2*len(kc.spares) < lim.spares()
}

// refill asks Redis, without waiting, to lend key id what its credit
// lacks (lendScript); the loan is deposited when it comes.
func (r *Redis) refill(id string, lim limits, now time.Time) {
	if r.down() {
		return
	}
	wantWin, wantLease, own := r.credit.wanted(id, lim, now)
	if wantWin+wantLease == 0 {
		return
	}
	lent := newTokens(max(wantWin, wantLease))
	c := &command{script: lendScript, keys: []string{r.key("win", "key", id), r.key("lease", "key", id)},
		args: []any{ms(now), limit.Window.Milliseconds(), lim.perMinute, lim.maxConcurrent, ms(now.Add(creditLife)),
			ms(now.Add(r.opts.LeaseTTL)), r.opts.LeaseTTL.Milliseconds(), wantWin, wantLease, own}}
	for _, t := range lent {
		c.args = append(c.args, t)
	}
	c.done = func(cmd *redis.Cmd) { r.deposit(id, lim, now, lent, wantWin, wantLease, cmd) }
	if !r.sendDetached("lend", c) {
		r.credit.unask(id, wantWin, wantLease) // Redis failed meanwhile
	}
}

// unask settles an ask of key id that was not sent.
func (c *credits) unask(id string, win, leases int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if kc := c.keys[id]; kc != nil {
		kc.askedWin, kc.askedLeases = max(kc.askedWin-win, 0), max(kc.askedLeases-leases, 0)
	}
}

// wanted returns how many window entries and leases an admission of key
// id asks the script to lend: what the replica lacks of a block, less
// what admissions already in flight asked for (so that concurrent misses
// do not each borrow a block). The admission's deposit settles the ask.
// own is the spare leases the replica holds: the key's roomy check does
// not count them (they are idle, and at most lim.spares()).
func (c *credits) wanted(id string, lim limits, now time.Time) (win, leases, own int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, 0, 0
	}
	kc := c.keys[id]
	if kc == nil {
		if len(c.keys) >= maxCreditKeys {
			return 0, 0, 0
		}
		kc = &keyCredit{lim: lim}
		c.keys[id] = kc
	}
	if lim.perMinute > 0 {
		win = lim.lendWin() - kc.askedWin
	}
	if lim.maxConcurrent > 0 {
		leases = lim.spares() - kc.askedLeases
	}
	if kc.lim == lim {
		for _, s := range kc.win {
			if win > 0 && fresh(s.at, now) {
				win--
			}
		}
		leases -= len(kc.spares)
	}
	win, leases = max(win, 0), max(leases, 0)
	kc.askedWin += win
	kc.askedLeases += leases
	if kc.lim == lim {
		own = len(kc.spares)
	}
	return win, leases, own
}

// deposit records what the script lent in answer cmd to an admission of
// key id at now that asked for askedWin window entries and askedLeases
// leases, under the tokens lent. It runs in the batcher's flusher, before
// any later answer is delivered. Spares past lim.spares() (released leases
// kept meanwhile) are given back at once.
func (r *Redis) deposit(id string, lim limits, now time.Time, lent []string, askedWin, askedLeases int, cmd *redis.Cmd) {
	res, err := cmd.Slice()
	if err != nil {
		res = nil // nothing lent; the failure is counted by the admission
	}
	var lentWin, lentLeases int64
	roomy := false
	if len(res) == 6 && res[0] == "" {
		lentWin, _ = res[3].(int64)
		lentLeases, _ = res[4].(int64)
		roomy = res[5] == int64(1)
	}
	lentWin, lentLeases = min(max(lentWin, 0), int64(len(lent))), min(max(lentLeases, 0), int64(len(lent)))
	leaseKey := r.key("lease", "key", id)
	var back []refund
	c := &r.credit
	c.mu.Lock()
	kc := c.keys[id]
	if c.closed || (kc == nil && len(c.keys) >= maxCreditKeys) {
		c.mu.Unlock()
		r.giveBack([]refund{{id: id, win: lent[:lentWin], leases: lent[:lentLeases], since: now}}, false)
		return
	}
	if kc == nil {
		kc = &keyCredit{lim: lim}
		c.keys[id] = kc
	}
	kc.askedWin, kc.askedLeases = max(kc.askedWin-askedWin, 0), max(kc.askedLeases-askedLeases, 0)
	if err != nil {
		c.mu.Unlock()
		return
	}
	if kc.lim != lim { // the key's limits changed: its old credit goes back
		back = append(back, kc.takeAll(id))
		kc.lim = lim
	}
	for _, t := range lent[:lentWin] {
		kc.win = append(kc.win, stamped{t, now})
	}
	for _, t := range lent[:lentLeases] {
		kc.spares = append(kc.spares, stamped{t, now})
		r.leases.add(lease{key: leaseKey, token: t})
	}
	if extra := len(kc.spares) - kc.lim.spares(); extra > 0 { // the oldest go back
		f := refund{id: id}
		for _, s := range kc.spares[:extra] {
			f.leases = append(f.leases, s.token)
		}
		kc.spares = append(kc.spares[:0], kc.spares[extra:]...)
		back = append(back, f)
	}
	kc.roomy, kc.answered = roomy, now
	c.mu.Unlock()
	r.giveBack(back, false)
}

// takeAll empties kc and returns its credit as a refund.
func (kc *keyCredit) takeAll(id string) refund {
	f := refund{id: id}
	for _, s := range kc.win {
		f.add(s)
	}
	for _, s := range kc.spares {
		f.leases = append(f.leases, s.token)
	}
	kc.win, kc.spares = nil, nil
	return f
}

// admitOnCredit admits on credit held for key id at now: a fresh window
// entry (when the key has a rate limit) and a spare lease (when it has a
// concurrency limit), or nothing.
func (r *Redis) admitOnCredit(id string, lim limits, now time.Time) (limit.Ticket, bool) {
	c := &r.credit
	c.mu.Lock()
	kc := c.keys[id]
	if c.closed || kc == nil || kc.lim != lim {
		c.mu.Unlock()
		return nil, false
	}
	wi := -1
	if lim.perMinute > 0 {
		for i, s := range kc.win {
			if fresh(s.at, now) {
				wi = i
				break
			}
		}
		if wi < 0 {
			c.mu.Unlock()
			return nil, false
		}
	}
	if lim.maxConcurrent > 0 && len(kc.spares) == 0 {
		c.mu.Unlock()
		return nil, false
	}
	if wi >= 0 { // used: it stays in the window, scored after this attempt
		kc.win = append(kc.win[:wi], kc.win[wi+1:]...)
	}
	var spare string
	if lim.maxConcurrent > 0 {
		spare = kc.spares[len(kc.spares)-1].token
		kc.spares = kc.spares[:len(kc.spares)-1]
	}
	low := kc.low(lim, now)
	c.mu.Unlock()
	if low {
		r.refill(id, lim, now)
	}
	if spare == "" {
		return noTicket{}, true
	}
	return releaseTicket(r.creditReleaser(id, lim, lease{key: r.key("lease", "key", id), token: spare})), true
}

// admitOnSpare admits on a spare lease of key id, for an attempt the
// script logged and refused for concurrency.
func (r *Redis) admitOnSpare(id string, lim limits) (limit.Ticket, bool) {
	c := &r.credit
	c.mu.Lock()
	kc := c.keys[id]
	if c.closed || kc == nil || kc.lim != lim || len(kc.spares) == 0 {
		c.mu.Unlock()
		return nil, false
	}
	spare := kc.spares[len(kc.spares)-1].token
	kc.spares = kc.spares[:len(kc.spares)-1]
	c.mu.Unlock()
	return releaseTicket(r.creditReleaser(id, lim, lease{key: r.key("lease", "key", id), token: spare})), true
}

// creditReleaser returns the release of lease l of key id: the lease is
// kept as a spare while the key is roomy, else released as any lease.
func (r *Redis) creditReleaser(id string, lim limits, l lease) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if !r.keepSpare(id, lim, l.token) {
				r.releaser(l, lim.maxConcurrent)()
			}
		})
	}
}

// keepSpare keeps lease token of key id as a spare, if the key is roomy
// by the latest script answer and fewer than lim.spares() are kept.
func (r *Redis) keepSpare(id string, lim limits, token string) bool {
	now := r.opts.Clock.Now()
	c := &r.credit
	c.mu.Lock()
	defer c.mu.Unlock()
	kc := c.keys[id]
	if c.closed || kc == nil || kc.lim != lim || !kc.roomy || !fresh(kc.answered, now) || len(kc.spares) >= lim.spares() {
		return false
	}
	kc.spares = append(kc.spares, stamped{token, now})
	return true
}

// sweep gives back the credit unused for creditLife at now, and forgets
// keys with none left.
func (r *Redis) sweep(now time.Time) {
	var back []refund
	c := &r.credit
	c.mu.Lock()
	for id, kc := range c.keys {
		f := refund{id: id}
		kc.win = keepFresh(kc.win, now, f.add)
		kc.spares = keepFresh(kc.spares, now, func(s stamped) { f.leases = append(f.leases, s.token) })
		if len(f.win)+len(f.leases) > 0 {
			back = append(back, f)
		}
		if len(kc.win) == 0 && len(kc.spares) == 0 && !fresh(kc.answered, now) {
			delete(c.keys, id)
		}
	}
	c.mu.Unlock()
	r.giveBack(back, false)
}

// keepFresh returns the tokens of ss still fresh at now and passes the
// others to stale.
func keepFresh(ss []stamped, now time.Time, stale func(stamped)) []stamped {
	kept := ss[:0]
	for _, s := range ss {
		if fresh(s.at, now) {
			kept = append(kept, s)
		} else {
			stale(s)
		}
	}
	clear(ss[len(kept):])
	return kept
}

// giveBack removes credit from Redis (window entries by refundScript,
// leases by one ZREM), waited for when wait. While Redis fails it is not
// sent: window entries age out, leases lapse after their TTL.
func (r *Redis) giveBack(back []refund, wait bool) {
	for _, f := range back {
		var cmds []*command
		if len(f.win) > 0 {
			c := &command{script: refundScript, keys: []string{r.key("win", "key", f.id), r.key("trim", "key", f.id)},
				args: make([]any, 0, 1+len(f.win))}
			c.args = append(c.args, ms(f.since))
			for _, t := range f.win {
				c.args = append(c.args, t)
			}
			cmds = append(cmds, c)
		}
		if len(f.leases) > 0 {
			key := r.key("lease", "key", f.id)
			c := &command{args: make([]any, 0, 2+len(f.leases))}
			c.args = append(c.args, "zrem", key)
			for _, t := range f.leases {
				r.leases.forget(lease{key: key, token: t})
				c.args = append(c.args, t)
			}
			cmds = append(cmds, c)
		}
		for _, c := range cmds {
			if !wait {
				r.sendDetached("release", c)
			} else if !r.down() {
				cmd, _ := r.batch.run(context.Background(), c)
				if err := cmd.Err(); err != nil {
					r.fail("release", err)
				}
			}
		}
	}
}

// sendDetached sends c in the next batch without waiting; a failure is
// counted under op. Not sent (false) while Redis fails.
func (r *Redis) sendDetached(op string, c *command) (sent bool) {
	if r.down() {
		return false
	}
	c.settle = func(cmd *redis.Cmd) {
		if err := cmd.Err(); err != nil {
			r.fail(op, err)
		}
	}
	r.batch.detach(c)
	return true
}

// sweepLoop sweeps credit every sweepEvery until quit is closed.
func (r *Redis) sweepLoop(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
			r.sweep(r.opts.Clock.Now())
		}
	}
}

// closeCredit stops lending and gives every borrowed window entry back
// (the spare leases are released with the other held leases).
func (r *Redis) closeCredit() {
	c := &r.credit
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	var back []refund
	for id, kc := range c.keys {
		if len(kc.win) > 0 {
			f := refund{id: id}
			for _, s := range kc.win {
				f.add(s)
			}
			back = append(back, f)
		}
	}
	clear(c.keys)
	c.mu.Unlock()
	r.giveBack(back, true)
}

// newTokens returns n random tokens.
func newTokens(n int) []string {
	b := make([]byte, 12*n)
	_, _ = rand.Read(b)
	out := make([]string, n)
	for i := range out {
		out[i] = hex.EncodeToString(b[12*i : 12*i+12])
	}
	return out
}
