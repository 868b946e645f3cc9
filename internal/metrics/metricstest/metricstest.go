// Package metricstest scrapes a /metrics handler in tests and reads values
// out of the exposition, as Prometheus would see them.
package metricstest

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is one scrape, by metric family name.
type Families map[string]*dto.MetricFamily

// Scrape GETs path from h with the given header (name, value pairs) and
// parses the text exposition; it fails the test on a status other than 200.
func Scrape(t testing.TB, h http.Handler, path string, header ...string) Families {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, w.Code, w.Body.String())
	}
	return Parse(t, w.Body.String())
}

// Parse parses a text exposition.
func Parse(t testing.TB, text string) Families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, text)
	}
	return fams
}

// Value returns the value of the series of family name whose labels
// include the given ones (name, value pairs), summed over every such
// series: a counter's or gauge's value, a histogram's count. ok is false
// when no series matches.
func (f Families) Value(name string, labels ...string) (v float64, ok bool) {
	return f.value(name, false, labels)
}

// Sum is Value for a histogram's sum.
func (f Families) Sum(name string, labels ...string) (v float64, ok bool) {
	return f.value(name, true, labels)
}

func (f Families) value(name string, sum bool, labels []string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	var total float64
	found := false
	for _, m := range fam.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		found = true
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil && sum:
			total += m.GetHistogram().GetSampleSum()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		case m.GetUntyped() != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total, found
}

func matches(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if v, ok := have[labels[i]]; !ok || v != labels[i+1] {
			return false
		}
	}
	return true
}

// Series lists the label sets of family name, one "k=v,k=v" line each,
// sorted (for failure messages).
func (f Families) Series(name string) []string {
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []string
	for _, m := range fam.GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		out = append(out, strings.Join(kv, ","))
	}
	sort.Strings(out)
	return out
}
