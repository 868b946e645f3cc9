package sqlite_test

import (
	"crypto/sha256"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/sqlite"
)

// BenchmarkKeyLookups measures the reads the gateway makes on every
// request made with a stored client key: the key by its hash, its owner,
// and the built-in admin (the owners of a key; read until one exists).
func BenchmarkKeyLookups(b *testing.B) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), sqlite.FileName), sealer(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateUser(b.Context(), store.User{Email: "owner@example.com", Role: store.RoleUser})
	if err != nil {
		b.Fatal(err)
	}
	hash := sha256.Sum256([]byte("sk-bench"))
	if _, err := db.CreateAPIKey(b.Context(), store.APIKey{Name: "bench", Prefix: "sk-bench", Hash: hash[:], OwnerID: u.ID,
		Models: []string{"gpt-5.1"}, RateLimit: 600, MaxConcurrency: 4, TokenQuota: 1 << 30}); err != nil {
		b.Fatal(err)
	}
	b.Run("FindAPIKeyByHash", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.FindAPIKeyByHash(b.Context(), hash[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	// As the gateway reads at c=16: more requests at once than the pool
	// keeps idle connections.
	b.Run("FindAPIKeyByHash/16-parallel", func(b *testing.B) {
		b.SetParallelism(16 / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.FindAPIKeyByHash(b.Context(), hash[:]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("GetUser", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.GetUser(b.Context(), u.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("BuiltinAdmin/none", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.BuiltinAdmin(b.Context()); err == nil {
				b.Fatal("a built-in admin")
			}
		}
	})
}
