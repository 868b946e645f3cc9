package limit_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/limit/limittest"
)

func TestMemoryAdmitter(t *testing.T) {
	limittest.RunAdmitter(t, func(t *testing.T, clock limit.Clock) limit.Admitter {
		return limit.NewMemoryAdmitter(clock, 0)
	})
}

func TestMemoryAdmitterBoundsItsWindows(t *testing.T) {
	m := limit.NewMemoryAdmitter(nil, 8)
	for i := range 100 {
		tk, err := m.Admit(t.Context(), limit.Admission{KeyID: string(rune('a' + i%26)) + string(rune('A'+i/26)), KeyPerMinute: 5})
		if err != nil {
			t.Fatal(err)
		}
		tk.Release()
	}
	if n := m.Windows(); n > 8 {
		t.Errorf("%d windows kept, want at most 8", n)
	}
}
