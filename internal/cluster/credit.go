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
//     maxLend more window entries (attempts logged now, under tokens the
//     replica chose) and up to maxSpares more leases (spare slots held in
//     Redis by this replica), as many as the replica lacks, while the key
//     stays roomy with them: at most half of each set limit taken. It
//     answers what it lent and whether the key is roomy. The flusher
//     records the loan (command.done) before it delivers any later answer
//     to this replica.
//   - An admission that finds, locally, a window entry borrowed less than
//     creditLife ago (when rpm is set) and a spare lease (when
//     max_concurrency is set) takes them, with no script run and no wait.
//     The entry is re-dated to the attempt's real time by a ZADD sent
//     without waiting, so the attempt leaves the window 60 s after it was
//     made, not after it was borrowed. The spare becomes the request's
//     lease; spares are refreshed like every held lease.
//   - A release, while the latest script answer (less than creditLife old)
//     said roomy and fewer than maxSpares spares are kept, keeps the lease
//     as a spare instead of removing it.
//   - An admission the script refuses is still admitted on credit this
//     replica holds. Credit is lent only while the key is at most half
//     full and a refusal needs it full, so the refusal comes after the
//     loan in Redis's order and finds it recorded: credit is not left
//     idle while its own replica's requests are refused. (After a rate
//     refusal the attempt then counts twice in the window, conservative:
//     the script logged it and the borrowed entry is re-dated; removing
//     either could lose an attempt the full window trimmed.)
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
//     it was admitted (logged when borrowed, moved forward when used), so
//     the window never counts fewer attempts than were made. The re-dating
//     ZADD does not take XX: an entry the script trimmed from a full window
//     is put back at its real time. The key's window expires 61 s after
//     the script's latest entry; a borrowed entry is used within 1 s of it,
//     so the re-dated entry lives its 60 s. Unused borrowed entries count
//     until given back (conservative).
//   - A replica holds at most what it borrowed while the key was at most
//     half full: another replica is refused because of it only past half
//     the limit, and, for credit its holder does not use, for about
//     creditLife (the sweep).
//
// While Redis fails, credit held may still be used until it is
// creditLife old (its re-dating is then not sent: the attempt counts from
// when it was borrowed, at most 1 s early); past that, the failure mode
// applies as for every admission. A command sent without waiting that
// fails is counted by fail. A key's credit is kept for the limits it was
// lent under: when they change, it is not used, and the next loan gives
// it back.
//
// Measured with the same benchmark, one run each: throughput 0.83× ->
// 0.94× embedded mode at c=16; Redis CPU per 1000 requests 0.0295 ->
// 0.0220 s; gateway CPU per 1000 requests 0.2185 -> 0.2155 s (embedded
// 0.188); added p50 of the admission alone 0.079 -> 0.0006 ms, of a
// whole request at c=1 0.17 -> 0.015 ms. BenchmarkAdmit, key without an
// IP limit, through Redis: 91 -> 14 µs per admission and release at c1,
// 25 -> 12 µs at c16.
const (
	minBorrowRate        = 64
	minBorrowConcurrency = 16
	maxLend              = 8
	maxSpares            = 8
	creditLife           = time.Second
	sweepEvery           = 250 * time.Millisecond
	// maxCreditKeys bounds the keys with credit; past it, new keys take
	// the exact path until the sweep forgets idle ones.
	maxCreditKeys = 10_000
)

// limits are the key limits of an admission that may borrow.
type limits struct{ perMinute, maxConcurrent int }

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

// wanted returns how many window entries and leases an admission of key
// id asks the script to lend.
func (c *credits) wanted(id string, lim limits, now time.Time) (win, leases int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kc := c.keys[id]
	if c.closed || (kc == nil && len(c.keys) >= maxCreditKeys) {
		return 0, 0
	}
	if lim.perMinute > 0 {
		win = maxLend
	}
	if lim.maxConcurrent > 0 {
		leases = maxSpares
	}
	if kc == nil || kc.lim != lim {
		return win, leases
	}
	if win > 0 {
		for _, s := range kc.win {
			if fresh(s.at, now) {
				win--
			}
		}
	}
	if leases > 0 {
		leases -= len(kc.spares)
	}
	return max(win, 0), max(leases, 0)
}

// deposit records what the script lent in answer cmd to an admission of
// key id at now, under the tokens lent. It runs in the batcher's flusher,
// before any later answer is delivered.
func (r *Redis) deposit(id string, lim limits, now time.Time, lent []string, cmd *redis.Cmd) {
	res, err := cmd.Slice()
	if err != nil {
		return // nothing lent; the failure is counted by the admission
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
// entry (when the key has a rate limit), re-dated to now, and a spare
// lease (when it has a concurrency limit), or nothing.
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
	var entry, spare string
	if wi >= 0 {
		entry = kc.win[wi].token
		kc.win = append(kc.win[:wi], kc.win[wi+1:]...)
	}
	if lim.maxConcurrent > 0 {
		spare = kc.spares[len(kc.spares)-1].token
		kc.spares = kc.spares[:len(kc.spares)-1]
	}
	c.mu.Unlock()
	if entry != "" {
		r.sendDetached("admit", &command{args: []any{"zadd", r.key("win", "key", id), ms(now), entry}})
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
// by the latest script answer and fewer than maxSpares are kept.
func (r *Redis) keepSpare(id string, lim limits, token string) bool {
	now := r.opts.Clock.Now()
	c := &r.credit
	c.mu.Lock()
	defer c.mu.Unlock()
	kc := c.keys[id]
	if c.closed || kc == nil || kc.lim != lim || !kc.roomy || !fresh(kc.answered, now) || len(kc.spares) >= maxSpares {
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
// counted under op. Not sent while Redis fails.
func (r *Redis) sendDetached(op string, c *command) {
	if r.down() {
		return
	}
	c.settle = func(cmd *redis.Cmd) {
		if err := cmd.Err(); err != nil {
			r.fail(op, err)
		}
	}
	r.batch.detach(c)
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
