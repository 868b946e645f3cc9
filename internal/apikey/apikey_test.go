package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/apikey"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
	"github.com/sparkgw/spark/internal/store/sqlite"
	"github.com/sparkgw/spark/internal/testutil"
)

// fakeKeys is a func-field fake of store.APIKeyStore.
type fakeKeys struct {
	CreateAPIKeyFn     func(ctx context.Context, k store.APIKey) (store.APIKey, error)
	FindAPIKeyByHashFn func(ctx context.Context, hash []byte) (store.APIKey, error)
	ListAPIKeysFn      func(ctx context.Context) ([]store.APIKey, error)
	TouchAPIKeyFn      func(ctx context.Context, id string, at time.Time) error
	DisableAPIKeyFn    func(ctx context.Context, id string) error
	GetAPIKeyFn        func(ctx context.Context, id string) (store.APIKey, error)
	AddAPIKeyTokensFn  func(ctx context.Context, id string, n int64) (int64, error)
}

var _ store.APIKeyStore = (*fakeKeys)(nil)

func (f *fakeKeys) CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	return f.CreateAPIKeyFn(ctx, k)
}
func (f *fakeKeys) FindAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	return f.FindAPIKeyByHashFn(ctx, hash)
}
func (f *fakeKeys) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	return f.ListAPIKeysFn(ctx)
}
func (f *fakeKeys) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	return f.TouchAPIKeyFn(ctx, id, at)
}
func (f *fakeKeys) DisableAPIKey(ctx context.Context, id string) error {
	return f.DisableAPIKeyFn(ctx, id)
}
func (f *fakeKeys) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	return f.GetAPIKeyFn(ctx, id)
}
func (f *fakeKeys) AddAPIKeyTokens(ctx context.Context, id string, n int64) (int64, error) {
	return f.AddAPIKeyTokensFn(ctx, id, n)
}

func TestMint(t *testing.T) {
	format := regexp.MustCompile(`^sk-spark-[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 100 {
		k, err := apikey.Mint()
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(k) {
			t.Fatalf("key %q has the wrong format", k)
		}
		if seen[k] {
			t.Fatal("duplicate key")
		}
		seen[k] = true
	}
}

func TestHashAndPrefix(t *testing.T) {
	h := apikey.Hash("sk-spark-abc")
	if len(h) != 32 || !bytes.Equal(h, apikey.Hash("sk-spark-abc")) || bytes.Equal(h, apikey.Hash("sk-spark-abd")) {
		t.Fatal("Hash is not a deterministic SHA-256")
	}
	for key, want := range map[string]string{
		"sk-spark-AbCdEfGh": "sk-spark-AbCd",
		"custom-secret":     "cust",
		"ab":                "a",
	} {
		if got := apikey.DisplayPrefix(key); got != want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestEnsureInitial(t *testing.T) {
	tests := []struct {
		name     string
		env      string
		existing []store.APIKey
		disable  bool
		mint     bool
	}{
		{"FirstStartMints", "", nil, false, true},
		{"BlankEnvMints", " , ", nil, false, true},
		{"APISecretSet", "s1,s2", nil, false, false},
		{"KeyExists", "", []store.APIKey{{Name: "k", Prefix: "sk-spark-xxxx"}}, false, false},
		{"DisabledKeyExists", "", []store.APIKey{{Name: "k", Prefix: "sk-spark-xxxx"}}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st := memstore.New(nil)
			for i, k := range tt.existing {
				k.Hash = apikey.Hash(string(rune('a' + i)))
				rec, err := st.CreateAPIKey(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if tt.disable {
					st.DisableAPIKey(ctx, rec.ID)
				}
			}
			key, err := apikey.EnsureInitial(ctx, st, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if (key != "") != tt.mint {
				t.Fatalf("minted %v, want %v", key != "", tt.mint)
			}
			if !tt.mint {
				return
			}
			keys, _ := st.ListAPIKeys(ctx)
			if len(keys) != 1 || keys[0].Name != apikey.InitialKeyName || !bytes.Equal(keys[0].Hash, apikey.Hash(key)) ||
				keys[0].Prefix != apikey.DisplayPrefix(key) {
				t.Fatalf("stored %+v", keys)
			}
			again, err := apikey.EnsureInitial(ctx, st, tt.env)
			if err != nil || again != "" {
				t.Fatalf("second start minted again (%v)", err)
			}
			p, err := apikey.NewVerifier(st, tt.env, apikey.Options{}).Verify(ctx, key)
			if err != nil || p.KeyID != keys[0].ID {
				t.Fatalf("minted key does not verify: %v", err)
			}
		})
	}
}

func TestEnsureInitialStoreError(t *testing.T) {
	st := &fakeKeys{ListAPIKeysFn: func(context.Context) ([]store.APIKey, error) { return nil, errors.New("disk on fire") }}
	if _, err := apikey.EnsureInitial(t.Context(), st, ""); err == nil {
		t.Fatal("store error swallowed")
	}
}

func TestVerify(t *testing.T) {
	ctx := t.Context()
	st := memstore.New(nil)
	good, rec, err := apikey.Create(ctx, st, "ci", 30)
	if err != nil {
		t.Fatal(err)
	}
	disabled, drec, _ := apikey.Create(ctx, st, "old", 0)
	st.DisableAPIKey(ctx, drec.ID)
	v := apikey.NewVerifier(st, "env-one, env-two", apikey.Options{})
	envOnly := apikey.NewVerifier(nil, "env-one", apikey.Options{})

	tests := []struct {
		name    string
		v       *apikey.Verifier
		key     string
		want    apikey.Principal
		wantErr error
	}{
		{"StoredKey", v, good, apikey.Principal{KeyID: rec.ID, Name: "ci", RateLimit: 30}, nil},
		{"StoredKeySpaces", v, " " + good + " ", apikey.Principal{KeyID: rec.ID, Name: "ci", RateLimit: 30}, nil},
		{"FirstEnvKey", v, "env-one", apikey.Principal{KeyID: "env:1", Name: "API_SECRET", FromEnv: true}, nil},
		{"SecondEnvKey", v, "env-two", apikey.Principal{KeyID: "env:2", Name: "API_SECRET", FromEnv: true}, nil},
		{"DisabledKey", v, disabled, apikey.Principal{}, apikey.ErrInvalidKey},
		{"UnknownKey", v, "sk-spark-nope", apikey.Principal{}, apikey.ErrInvalidKey},
		{"PrefixOfKey", v, good[:20], apikey.Principal{}, apikey.ErrInvalidKey},
		{"Empty", v, "", apikey.Principal{}, apikey.ErrMissingKey},
		{"EnvOnlyAccepts", envOnly, "env-one", apikey.Principal{KeyID: "env:1", Name: "API_SECRET", FromEnv: true}, nil},
		{"EnvOnlyRejects", envOnly, good, apikey.Principal{}, apikey.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Verify(ctx, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if gw.ErrorCode(err) != gw.CodeUnauthorized {
					t.Fatalf("code %s, want unauthorized", gw.ErrorCode(err))
				}
				if tt.key != "" && bytes.Contains([]byte(err.Error()), []byte(tt.key)) {
					t.Fatal("error reveals the presented key")
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("principal %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVerifyStoreFailure(t *testing.T) {
	st := &fakeKeys{FindAPIKeyByHashFn: func(context.Context, []byte) (store.APIKey, error) {
		return store.APIKey{}, errors.New("database is locked")
	}}
	_, err := apikey.NewVerifier(st, "", apikey.Options{}).Verify(t.Context(), "sk-spark-x")
	if gw.ErrorCode(err) != gw.CodeInternal {
		t.Fatalf("store failure: %v", err)
	}
}

func TestVerifyRejectsWrongHashFromStore(t *testing.T) {
	st := &fakeKeys{FindAPIKeyByHashFn: func(context.Context, []byte) (store.APIKey, error) {
		return store.APIKey{ID: "key_x", Hash: apikey.Hash("something else")}, nil
	}}
	if _, err := apikey.NewVerifier(st, "", apikey.Options{}).Verify(t.Context(), "sk-spark-x"); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("mismatched hash accepted: %v", err)
	}
}

func TestVerifyTouchesAtMostOncePerInterval(t *testing.T) {
	ctx := t.Context()
	mem := memstore.New(nil)
	key, rec, _ := apikey.Create(ctx, mem, "k", 0)
	var touches []time.Time
	st := &fakeKeys{
		FindAPIKeyByHashFn: mem.FindAPIKeyByHash,
		TouchAPIKeyFn: func(ctx context.Context, id string, at time.Time) error {
			touches = append(touches, at)
			return mem.TouchAPIKey(ctx, id, at)
		},
	}
	c := testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	v := apikey.NewVerifier(st, "", apikey.Options{Clock: c, TouchEvery: time.Minute})
	for _, step := range []time.Duration{0, 10 * time.Second, 49 * time.Second, time.Second, time.Hour} {
		c.Advance(step)
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if len(touches) != 3 {
		t.Fatalf("%d touches, want 3 (t=0, t=60s, t=1h)", len(touches))
	}
	got, _ := mem.FindAPIKeyByHash(ctx, rec.Hash)
	if !got.LastUsedAt.Equal(c.Now()) {
		t.Fatalf("LastUsedAt %v, want %v", got.LastUsedAt, c.Now())
	}
}

func TestKeysStoredOnlyAsHashes(t *testing.T) {
	s, err := secret.NewSealer(bytes.Repeat([]byte{3}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, sqlite.FileName), s)
	if err != nil {
		t.Fatal(err)
	}
	key, err := apikey.EnsureInitial(t.Context(), db, "")
	if err != nil || key == "" {
		t.Fatalf("EnsureInitial: %q %v", key, err)
	}
	db.Close()
	raw, err := os.ReadFile(filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	secretPart := key[len(apikey.DisplayPrefix(key)):]
	if bytes.Contains(raw, []byte(secretPart)) {
		t.Fatal("the key is in the database file")
	}
	if !bytes.Contains(raw, apikey.Hash(key)) {
		t.Fatal("the key's hash is not in the database file (test reads the wrong file?)")
	}
}

// A stored key's owner and policies come back from Verify; once its
// ExpiresAt has passed, it is refused with a 401 that says it expired.
func TestVerifyPoliciesAndExpiry(t *testing.T) {
	ctx := t.Context()
	mem := memstore.New(nil)
	c := testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	key, rec, err := apikey.CreateWith(ctx, mem, store.APIKey{Name: "scoped", OwnerID: "usr_a", RateLimit: 2,
		Models: []string{"gpt-5.1"}, IPAllow: []string{"10.0.0.0/8"}, MaxConcurrency: 3, TokenQuota: 1000,
		ExpiresAt: c.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	v := apikey.NewVerifier(mem, "", apikey.Options{Clock: c})
	got, err := v.Verify(ctx, key)
	want := apikey.Principal{KeyID: rec.ID, Name: "scoped", OwnerID: "usr_a", RateLimit: 2, Models: []string{"gpt-5.1"},
		IPAllow: []string{"10.0.0.0/8"}, MaxConcurrency: 3, TokenQuota: 1000}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Verify: %+v %v, want %+v", got, err, want)
	}
	c.Advance(time.Hour - time.Second)
	if _, err := v.Verify(ctx, key); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	c.Advance(time.Second)
	_, err = v.Verify(ctx, key)
	if !errors.Is(err, apikey.ErrExpiredKey) || gw.ErrorCode(err) != gw.CodeUnauthorized || !strings.Contains(gw.AsError(err).Message, "expired") {
		t.Fatalf("at expiry: %v", err)
	}
}

// Tokens a Meter counted count towards TokensUsed at once, are written to
// the store by Flush (and by Close), and a failed write is retried.
func TestMeterCountsAndWrites(t *testing.T) {
	ctx := t.Context()
	mem := memstore.New(nil)
	key, rec, _ := apikey.Create(ctx, mem, "k", 0)
	fail := true
	st := &fakeKeys{FindAPIKeyByHashFn: mem.FindAPIKeyByHash, TouchAPIKeyFn: mem.TouchAPIKey,
		AddAPIKeyTokensFn: func(ctx context.Context, id string, n int64) (int64, error) {
			if fail {
				return 0, errors.New("database is locked")
			}
			return mem.AddAPIKeyTokens(ctx, id, n)
		}}
	m := apikey.NewMeter(st, apikey.MeterOptions{Every: -1})
	v := apikey.NewVerifier(st, "", apikey.Options{Meter: m})
	m.AddTokens(rec.ID, 30)
	m.AddTokens(rec.ID, 12)
	m.AddTokens("env:1", 500) // not a stored key
	m.AddTokens(rec.ID, -5)
	used := func() int64 {
		t.Helper()
		p, err := v.Verify(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return p.TokensUsed
	}
	if u := used(); u != 42 {
		t.Fatalf("TokensUsed before a write: %d, want 42", u)
	}
	if err := m.Flush(ctx); err == nil {
		t.Fatal("a failed write reported no error")
	}
	if u := used(); u != 42 {
		t.Fatalf("TokensUsed after a failed write: %d, want 42", u)
	}
	fail = false
	m.AddTokens(rec.ID, 8)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	stored, _ := mem.GetAPIKey(ctx, rec.ID)
	if stored.TokensUsed != 50 || m.Pending(rec.ID) != 0 || used() != 50 {
		t.Fatalf("stored %d, pending %d", stored.TokensUsed, m.Pending(rec.ID))
	}
}

// With CacheFor, a client's requests read its key from the store once
// per CacheFor: Forget makes the next one read it again (a key disabled
// through this process is refused at once), and a change made elsewhere
// is seen once the copy is CacheFor old. Unknown keys are never cached.
func TestVerifyCachesStoredKeys(t *testing.T) {
	ctx := t.Context()
	mem := memstore.New(nil)
	key, rec, _ := apikey.Create(ctx, mem, "k", 0)
	reads := 0
	st := &fakeKeys{TouchAPIKeyFn: mem.TouchAPIKey,
		FindAPIKeyByHashFn: func(ctx context.Context, h []byte) (store.APIKey, error) {
			reads++
			return mem.FindAPIKeyByHash(ctx, h)
		}}
	c := testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	v := apikey.NewVerifier(st, "", apikey.Options{Clock: c, CacheFor: time.Second})
	verify := func(presented string) error {
		t.Helper()
		_, err := v.Verify(ctx, presented)
		return err
	}
	for range 3 {
		if err := verify(key); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 1 {
		t.Fatalf("three requests within CacheFor read the store %d times, want 1", reads)
	}
	for range 2 {
		if err := verify(apikey.Prefix + "unknown"); !errors.Is(err, apikey.ErrInvalidKey) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if reads != 3 {
		t.Fatalf("two unknown keys read the store %d times, want 2 (not cached)", reads-1)
	}

	// Disabled elsewhere (another replica): accepted until the copy is
	// CacheFor old, then refused.
	if err := mem.DisableAPIKey(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	c.Advance(999 * time.Millisecond)
	if err := verify(key); err != nil {
		t.Fatalf("within CacheFor of its read: %v", err)
	}
	c.Advance(time.Millisecond)
	if err := verify(key); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("CacheFor after its read, a key disabled elsewhere: %v, want ErrInvalidKey", err)
	}

	// Disabled through this process: Forget, refused on the next call.
	key2, rec2, _ := apikey.Create(ctx, mem, "k2", 0)
	if err := verify(key2); err != nil {
		t.Fatal(err)
	}
	if err := mem.DisableAPIKey(ctx, rec2.ID); err != nil {
		t.Fatal(err)
	}
	v.Forget()
	if err := verify(key2); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("after Forget, a disabled key: %v, want ErrInvalidKey", err)
	}
}

// A key read while Forget is called is not cached: the read may hold what
// was just changed.
func TestVerifyForgetDuringRead(t *testing.T) {
	ctx := t.Context()
	mem := memstore.New(nil)
	key, rec, _ := apikey.Create(ctx, mem, "k", 0)
	var v *apikey.Verifier
	first := true
	st := &fakeKeys{TouchAPIKeyFn: mem.TouchAPIKey,
		FindAPIKeyByHashFn: func(ctx context.Context, h []byte) (store.APIKey, error) {
			k, err := mem.FindAPIKeyByHash(ctx, h)
			if first { // the key is disabled (and Forget called) right after this read
				first = false
				_ = mem.DisableAPIKey(ctx, rec.ID)
				v.Forget()
			}
			return k, err
		}}
	v = apikey.NewVerifier(st, "", apikey.Options{CacheFor: time.Hour})
	if _, err := v.Verify(ctx, key); err != nil {
		t.Fatalf("the read from before the change: %v", err)
	}
	if _, err := v.Verify(ctx, key); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("the copy read across a Forget was cached: %v, want ErrInvalidKey", err)
	}
}

// A cached key's TokensUsed, read before the meter wrote its tokens,
// still counts them once: a token quota holds with the cache.
func TestCachedKeyCountsWrittenTokensOnce(t *testing.T) {
	ctx := t.Context()
	mem := memstore.New(nil)
	key, rec, _ := apikey.Create(ctx, mem, "k", 0)
	m := apikey.NewMeter(mem, apikey.MeterOptions{Every: -1})
	defer m.Close()
	v := apikey.NewVerifier(mem, "", apikey.Options{Meter: m, CacheFor: time.Hour})
	used := func() int64 {
		t.Helper()
		p, err := v.Verify(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return p.TokensUsed
	}
	if u := used(); u != 0 { // cached with TokensUsed 0
		t.Fatalf("TokensUsed of a new key: %d", u)
	}
	m.AddTokens(rec.ID, 40)
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m.AddTokens(rec.ID, 2)
	if u := used(); u != 42 {
		t.Fatalf("TokensUsed from a copy read before the write: %d, want 42", u)
	}
	if _, err := mem.AddAPIKeyTokens(ctx, rec.ID, 100); err != nil { // another replica's write
		t.Fatal(err)
	}
	v.Forget()
	if u := used(); u != 142 {
		t.Fatalf("TokensUsed read again after another replica's write: %d, want 142", u)
	}
}

// countingOwners counts the owner lookups of a Verifier.
type countingOwners struct {
	*memstore.Store
	reads int
}

func (c *countingOwners) GetUser(ctx context.Context, id string) (store.User, error) {
	c.reads++
	return c.Store.GetUser(ctx, id)
}

// With Options.Owners, a key whose owner is disabled is refused like an
// unknown one; the owner's state is cached like the key, and Forget drops
// it.
func TestVerifyOwnerDisabled(t *testing.T) {
	ctx := t.Context()
	mem := memstore.New(nil)
	u, err := mem.CreateUser(ctx, store.User{Email: "dev@example.com", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := apikey.CreateWith(ctx, mem, store.APIKey{Name: "k", OwnerID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	owners := &countingOwners{Store: mem}
	v := apikey.NewVerifier(mem, "", apikey.Options{Owners: owners, CacheFor: time.Hour})
	for range 2 {
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatalf("enabled owner: %v", err)
		}
	}
	if owners.reads != 1 {
		t.Fatalf("owner read %d times for two requests, want 1", owners.reads)
	}
	disabled := true
	if _, err := mem.UpdateUser(ctx, u.ID, store.UserPatch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	v.Forget()
	if _, err := v.Verify(ctx, key); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("disabled owner: %v, want ErrInvalidKey", err)
	}
}
