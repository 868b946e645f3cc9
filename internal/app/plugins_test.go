package app_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
)

// TestPluginsDeclareEverything: every plugin of the app's list declares
// what the gateway needs, its accounts variable is one config reads, and
// its demo wiring gives it accounts of the right shape.
func TestPluginsDeclareEverything(t *testing.T) {
	seen := map[string]bool{}
	always := 0
	for _, pl := range app.Plugins() {
		t.Run(pl.Name, func(t *testing.T) {
			if pl.Name == "" || seen[pl.Name] {
				t.Fatalf("empty or duplicate name %q", pl.Name)
			}
			seen[pl.Name] = true
			if pl.DisplayName == "" || pl.Credential == nil || pl.New == nil || pl.Demo.Wire == nil || pl.Demo.ChatModel == "" || pl.HelperModel == "" {
				t.Fatalf("incomplete plugin: %+v", pl)
			}
			if pl.Always {
				always++
			}
			var cfg config.Config
			if _, ok := cfg.Lookup(pl.AccountsEnv); !ok {
				t.Fatalf("config does not read %s", pl.AccountsEnv)
			}
			pl.Demo.Wire(&cfg, "http://127.0.0.1:9")
			raw, _ := cfg.Lookup(pl.AccountsEnv)
			entries := config.Cookies(raw)
			if len(entries) < 2 {
				t.Fatalf("demo wiring gives %d accounts, want at least two (to show failover)", len(entries))
			}
			for i, e := range entries {
				if _, err := pl.Credential.Normalize(e); err != nil {
					t.Errorf("demo account %d: %v", i+1, err)
				}
			}
		})
	}
	if always > 1 {
		t.Errorf("%d plugins are built without accounts; at most one may be", always)
	}
}
