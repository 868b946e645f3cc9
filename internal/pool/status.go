package pool

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// AccountStatus is what operators see about an account. It never holds the
// cookie or the proxy URL.
type AccountStatus struct {
	ID             string
	Provider       string
	Label          string
	State          store.AccountState // effective at AsOf (an ended rest shows as active)
	RestUntil      time.Time          // zero unless resting
	DisabledReason string
	InFlight       int // requests in flight (0 when read from the store)
	Failures       int // consecutive failures since the last success
	LastError      store.ErrorInfo
	RecentErrors   []store.AccountEvent // newest first
	HasProxy       bool
	Hint           string    // operator advice (e.g. configure PROXY_URL), if any
	AsOf           time.Time // when the status was taken
}

func statusOf(rec store.Account, inFlight int, recent []store.AccountEvent, now time.Time) AccountStatus {
	st := AccountStatus{
		ID: rec.ID, Provider: rec.Provider, Label: rec.Label, State: rec.EffectiveState(now),
		DisabledReason: rec.DisabledReason, InFlight: inFlight, Failures: rec.Failures, LastError: rec.LastError,
		RecentErrors: append([]store.AccountEvent(nil), recent...), HasProxy: rec.Proxy != "", AsOf: now,
	}
	if st.State == store.StateResting {
		st.RestUntil = rec.RestUntil
	}
	if st.State != store.StateActive {
		st.Hint = hint(rec.LastError.Code, st.HasProxy)
	}
	return st
}

// Snapshot implements [Snapshotter]: every account's status, by provider
// and creation order.
func (p *Local) Snapshot() []AccountStatus {
	now := p.opts.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	providers := make([]string, 0, len(p.byProvider))
	for prov := range p.byProvider {
		providers = append(providers, prov)
	}
	slices.Sort(providers)
	var out []AccountStatus
	for _, prov := range providers {
		for _, e := range p.byProvider[prov] {
			out = append(out, statusOf(e.rec, e.inFlight, e.recent, now))
		}
	}
	return out
}

// StatusFromStore reads the statuses straight from a store, for `spark
// accounts` when no pool runs in the process: the state as last written
// through, with rests that ended at now shown as active and up to recent
// failures per account.
func StatusFromStore(ctx context.Context, st store.AccountStore, now time.Time, recent int) ([]AccountStatus, error) {
	recs, err := st.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return nil, err
	}
	if recent <= 0 {
		recent = DefaultRecentErrors
	}
	out := make([]AccountStatus, 0, len(recs))
	for _, rec := range recs {
		evs, err := st.ListEvents(ctx, rec.ID, store.EventsPerAccount)
		if err != nil {
			return nil, err
		}
		var fails []store.AccountEvent
		for _, ev := range evs {
			if ev.Kind == store.EventFailure && len(fails) < recent {
				fails = append(fails, ev)
			}
		}
		out = append(out, statusOf(rec, 0, fails, now))
	}
	return out, nil
}

// Describe prints statuses as a table (provider, label, id, state,
// rest-until, in-flight, failures, recent errors, notes). It never prints
// cookies or proxy URLs: statuses do not hold them.
func Describe(w io.Writer, statuses []AccountStatus) error {
	if len(statuses) == 0 {
		_, err := fmt.Fprintln(w, "No accounts configured (set GS_COOKIE or GEMINI_COOKIE).")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tLABEL\tID\tSTATE\tREST UNTIL\tIN-FLIGHT\tFAILURES\tRECENT ERRORS\tNOTE")
	for _, s := range statuses {
		until := "-"
		if !s.RestUntil.IsZero() {
			until = fmt.Sprintf("%s (in %s)", s.RestUntil.UTC().Format("2006-01-02 15:04:05Z"), ago(s.RestUntil.Sub(s.AsOf)))
		}
		note := s.DisabledReason
		if s.Hint != "" {
			note = strings.TrimPrefix(note+"; "+s.Hint, "; ")
		}
		if s.HasProxy {
			note = strings.TrimPrefix(note+"; own proxy", "; ")
		}
		if note == "" {
			note = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.Provider, s.Label, s.ID, s.State, until,
			s.InFlight, s.Failures, recentErrors(s), note)
	}
	return tw.Flush()
}

func recentErrors(s AccountStatus) string {
	if len(s.RecentErrors) == 0 {
		return "-"
	}
	var parts []string
	for i, ev := range s.RecentErrors {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(s.RecentErrors)-3))
			break
		}
		part := string(ev.Code)
		if !ev.At.IsZero() {
			part += " " + ago(s.AsOf.Sub(ev.At)) + " ago"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// ago formats a duration coarsely: 45s, 12m, 3h, 2d.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
