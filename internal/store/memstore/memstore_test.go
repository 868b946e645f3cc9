package memstore_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
	"github.com/sparkgw/spark/internal/store/storetest"
)

type testDB struct{ s *memstore.Store }

func (d testDB) Open(*testing.T) store.Store { return d.s }
func (d testDB) AtRest(*testing.T) []byte    { return nil }

func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.DB { return testDB{memstore.New(nil, store.WithRules(storetest.Rules))} })
}
