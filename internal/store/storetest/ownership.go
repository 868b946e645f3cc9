package storetest

import (
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// ownershipTests cover what the management plane adds: accounts and keys
// that belong to users, shared accounts, key policies and the usage of
// each owner.
var ownershipTests = []struct {
	name string
	fn   func(t *testing.T, db DB)
}{
	{"AccountOwnership", testAccountOwnership},
	{"UpdateAccountInfo", testUpdateAccountInfo},
	{"APIKeyPolicies", testAPIKeyPolicies},
	{"APIKeyTokensConcurrent", testAPIKeyTokensConcurrent},
	{"UsageOwners", testUsageOwners},
}

func testAccountOwnership(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	mine := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("o1"), OwnerID: "usr_a"}))
	shared := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("o2"), Shared: true}))
	env, _ := mustImport(t, s, "sess", bare("o3"))
	if env.OwnerID != "" || env.Shared {
		t.Fatalf("imported account owner %q shared %v, want the built-in admin's, not shared", env.OwnerID, env.Shared)
	}
	s = reopen(t, db, s)
	got := must[store.Account](t)(s.GetAccount(ctx, mine.ID))
	if got.OwnerID != "usr_a" || got.Shared {
		t.Errorf("owned account read back as owner %q shared %v", got.OwnerID, got.Shared)
	}
	if got := must[store.Account](t)(s.GetAccount(ctx, shared.ID)); got.OwnerID != "" || !got.Shared {
		t.Errorf("shared account read back as owner %q shared %v", got.OwnerID, got.Shared)
	}
	if !got.OwnedBy([]string{"usr_b", "usr_a"}) || got.OwnedBy([]string{"", "usr_b"}) {
		t.Error("OwnedBy disagrees with OwnerID")
	}
	// A re-import keeps the owner and the shared flag.
	ok(t, func() error {
		_, err := s.UpdateAccountInfo(ctx, env.ID, store.AccountPatch{Shared: new(true)})
		return err
	}())
	again, _ := mustImport(t, s, "sess", bare("o3"))
	if again.ID != env.ID || !again.Shared || again.OwnerID != "" {
		t.Errorf("re-import changed ownership: %+v", again)
	}
}

func testUpdateAccountInfo(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("u1"), Label: "one", OwnerID: "usr_a"}))
	b := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("u2"), Label: "two"}))
	got, err := s.UpdateAccountInfo(ctx, a.ID, store.AccountPatch{Label: new("renamed"), Proxy: new("http://u:p@proxy:1"), Shared: new(true)})
	ok(t, err)
	if got.Label != "renamed" || got.Proxy != "http://u:p@proxy:1" || !got.Shared || got.Cookie != a.Cookie || got.OwnerID != "usr_a" {
		t.Fatalf("UpdateAccountInfo = %v shared=%v owner=%q", got, got.Shared, got.OwnerID)
	}
	s = reopen(t, db, s)
	got = must[store.Account](t)(s.GetAccount(ctx, a.ID))
	if got.Label != "renamed" || got.Proxy != "http://u:p@proxy:1" || !got.Shared {
		t.Fatalf("after reopen: %v proxy set %v shared %v", got, got.Proxy != "", got.Shared)
	}
	// Nil fields are kept; an empty proxy removes it.
	got = must[store.Account](t)(s.UpdateAccountInfo(ctx, a.ID, store.AccountPatch{Proxy: new("")}))
	if got.Label != "renamed" || got.Proxy != "" || !got.Shared {
		t.Errorf("partial patch: %v proxy %q shared %v", got, got.Proxy, got.Shared)
	}
	_, err = s.UpdateAccountInfo(ctx, a.ID, store.AccountPatch{Label: new("two")})
	wantErr(t, "label of another account", err, store.ErrConflict)
	_, err = s.UpdateAccountInfo(ctx, b.ID, store.AccountPatch{Label: new("  ")})
	wantErr(t, "empty label", err, store.ErrInvalid)
	_, err = s.UpdateAccountInfo(ctx, "acct_missing", store.AccountPatch{Label: new("x")})
	wantErr(t, "missing account", err, store.ErrNotFound)
}

func testAPIKeyPolicies(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	h := sha256.Sum256([]byte("policy-key"))
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	k := must[store.APIKey](t)(s.CreateAPIKey(ctx, store.APIKey{Name: "p", Prefix: "sk-spark-Poli", Hash: h[:],
		OwnerID: "usr_a", Models: []string{"gpt-5.1", "gemini-3-flash"}, IPAllow: []string{"10.0.0.0/8", "::1/128"},
		ExpiresAt: exp, RateLimit: 2, MaxConcurrency: 3, TokenQuota: 1000}))
	s = reopen(t, db, s)
	for _, got := range []store.APIKey{
		must[store.APIKey](t)(s.GetAPIKey(ctx, k.ID)),
		must[store.APIKey](t)(s.FindAPIKeyByHash(ctx, h[:])),
		must[[]store.APIKey](t)(s.ListAPIKeys(ctx))[0],
	} {
		if got.OwnerID != "usr_a" || !slices.Equal(got.Models, []string{"gpt-5.1", "gemini-3-flash"}) ||
			!slices.Equal(got.IPAllow, []string{"10.0.0.0/8", "::1/128"}) || !got.ExpiresAt.Equal(exp) ||
			got.RateLimit != 2 || got.MaxConcurrency != 3 || got.TokenQuota != 1000 || got.TokensUsed != 0 {
			t.Fatalf("key read back as %+v", got)
		}
	}
	if !k.Expired(exp) || k.Expired(exp.Add(-time.Second)) || (store.APIKey{}).Expired(exp) {
		t.Error("Expired disagrees with ExpiresAt")
	}
	plain := sha256.Sum256([]byte("plain-key"))
	p := must[store.APIKey](t)(s.CreateAPIKey(ctx, store.APIKey{Prefix: "sk-spark-Plai", Hash: plain[:]}))
	if got := must[store.APIKey](t)(s.GetAPIKey(ctx, p.ID)); got.Models != nil || got.IPAllow != nil || !got.ExpiresAt.IsZero() {
		t.Errorf("a key without policies read back with %+v", got)
	}
	if n := must[int64](t)(s.AddAPIKeyTokens(ctx, k.ID, 40)); n != 40 {
		t.Errorf("AddAPIKeyTokens = %d, want 40", n)
	}
	if n := must[int64](t)(s.AddAPIKeyTokens(ctx, k.ID, 2)); n != 42 {
		t.Errorf("AddAPIKeyTokens = %d, want 42", n)
	}
	if got := must[store.APIKey](t)(s.GetAPIKey(ctx, k.ID)); got.TokensUsed != 42 {
		t.Errorf("TokensUsed = %d, want 42", got.TokensUsed)
	}
	_, err := s.AddAPIKeyTokens(ctx, "key_missing", 1)
	wantErr(t, "AddAPIKeyTokens missing", err, store.ErrNotFound)
	_, err = s.AddAPIKeyTokens(ctx, k.ID, -1)
	wantErr(t, "AddAPIKeyTokens negative", err, store.ErrInvalid)
	_, err = s.GetAPIKey(ctx, "key_missing")
	wantErr(t, "GetAPIKey missing", err, store.ErrNotFound)
	neg := sha256.Sum256([]byte("neg"))
	_, err = s.CreateAPIKey(ctx, store.APIKey{Prefix: "sk-spark-Negt", Hash: neg[:], TokenQuota: -1})
	wantErr(t, "negative quota", err, store.ErrInvalid)
	_, err = s.CreateAPIKey(ctx, store.APIKey{Prefix: "sk-spark-Negt", Hash: neg[:], MaxConcurrency: -1})
	wantErr(t, "negative concurrency", err, store.ErrInvalid)
}

func testAPIKeyTokensConcurrent(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	h := sha256.Sum256([]byte("tokens-key"))
	k := must[store.APIKey](t)(s.CreateAPIKey(ctx, store.APIKey{Prefix: "sk-spark-Tokn", Hash: h[:]}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if _, err := s.AddAPIKeyTokens(ctx, k.ID, 3); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := must[store.APIKey](t)(s.GetAPIKey(ctx, k.ID)); got.TokensUsed != 8*25*3 {
		t.Errorf("TokensUsed = %d after concurrent adds, want %d", got.TokensUsed, 8*25*3)
	}
}

func testUsageOwners(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ok(t, s.AddUsage(ctx, []store.UsageRecord{
		{Time: at, KeyID: "k_a", OwnerID: "usr_a", Model: "m", Status: 200, InputTokens: 1},
		{Time: at, KeyID: "k_b", OwnerID: "usr_b", Model: "m", Status: 200, InputTokens: 2},
		{Time: at, KeyID: "env:1", Model: "m", Status: 200, InputTokens: 4},
	}))
	s = reopen(t, db, s)
	for _, tc := range []struct {
		owners []string
		want   []string // key ids, newest first
	}{
		{nil, []string{"env:1", "k_b", "k_a"}},
		{[]string{"usr_a"}, []string{"k_a"}},
		{[]string{"", "usr_b"}, []string{"env:1", "k_b"}},
		{[]string{}, nil},
	} {
		recs := must[[]store.UsageRecord](t)(s.ListUsage(ctx, store.UsageFilter{Owners: tc.owners}))
		var got []string
		for _, r := range recs {
			got = append(got, r.KeyID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListUsage(owners %q) = %q, want %q", tc.owners, got, tc.want)
		}
	}
	rollups := must[[]store.UsageRollup](t)(s.UsageRollups(ctx, at, at))
	owners := map[string]string{}
	for _, u := range rollups {
		owners[u.KeyID] = u.OwnerID
	}
	if owners["k_a"] != "usr_a" || owners["k_b"] != "usr_b" || owners["env:1"] != "" || len(owners) != 3 {
		t.Errorf("roll-up owners = %v", owners)
	}
}
