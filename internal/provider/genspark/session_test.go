package genspark_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// chatServer is an ask handler that starts project pN for a new chat and
// re-announces the continued id otherwise.
func chatServer() http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Query string `json:"current_query_string"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		q, _ := url.ParseQuery(body.Query)
		id := q.Get("id")
		if id == "" {
			mu.Lock()
			n++
			id = fmt.Sprintf("p%d", n)
			mu.Unlock()
		}
		_, _ = io.WriteString(w, okAnswer(id, "ok"))
	}
}

func queryOf(t *testing.T, r recorded) string {
	t.Helper()
	return r.JSON(t)["current_query_string"].(string)
}

func TestAutoBindingScopedPerClientKey(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", chatServer())
	store := genspark.NewMemoryBindings(0)
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) {
		c.AutoBind = true
		c.AutoDelete = true // bound chats are never deleted
		c.Bindings = store
	})
	a1, a2 := account("acct-1", "c1"), account("acct-2", "c2")
	steps := []struct {
		acct      string
		model     string
		clientKey string
		wantQuery string
	}{
		{"acct-1", "gpt-5.1", "key-A", "type=COPILOT_MOA_CHAT"},
		{"acct-1", "gpt-5.1", "key-B", "type=COPILOT_MOA_CHAT"},
		{"acct-1", "gpt-5.1", "key-A", "id=p1&type=COPILOT_MOA_CHAT"},
		{"acct-1", "gpt-5.1-search", "key-B", "id=p2&type=COPILOT_MOA_CHAT"}, // -search shares the binding
		{"acct-2", "gpt-5.1", "key-A", "type=COPILOT_MOA_CHAT"},              // other account, new chat
		{"acct-1", "claude-sonnet-4-5", "key-A", "type=COPILOT_MOA_CHAT"},    // other model, new chat
		{"acct-2", "gpt-5.1", "key-A", "id=p3&type=COPILOT_MOA_CHAT"},
	}
	for i, st := range steps {
		acct := a1
		if st.acct == "acct-2" {
			acct = a2
		}
		req := userReq(st.model, "hello")
		req.ClientKey = st.clientKey
		if _, err := chat(t, p, acct, req); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := queryOf(t, f.lastAsk(t)); got != st.wantQuery {
			t.Errorf("step %d (%s %s %s): query %q, want %q", i, st.acct, st.model, st.clientKey, got, st.wantQuery)
		}
	}
	id, ok, _ := store.Get(context.Background(), genspark.BindingKey{AccountID: "acct-1", Model: "gpt-5.1", ClientKey: "key-B"})
	if !ok || id != "p2" {
		t.Errorf("binding acct-1/gpt-5.1/key-B = %q %v", id, ok)
	}
	p.Wait()
	if n := len(f.reqs("/api/project/delete")); n != 0 {
		t.Errorf("%d bound chats deleted", n)
	}
}

func TestAutoBindingKeepsIDWhenNotReannounced(t *testing.T) {
	f := newFake(t)
	var calls atomic.Int32
	f.handle("/api/copilot/ask", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			_, _ = io.WriteString(w, okAnswer("p1", "ok"))
			return
		}
		// A continued chat without project_start.
		_, _ = io.WriteString(w, sse(`{"content": "ok", "type": "message_result"}`))
	})
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoBind = true })
	for i := 0; i < 3; i++ {
		if _, err := chat(t, p, account("a", "c"), userReq("gpt-5.1", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if got := queryOf(t, f.lastAsk(t)); got != "id=p1&type=COPILOT_MOA_CHAT" {
		t.Errorf("query = %q", got)
	}
}

func TestFailedAnswerDoesNotBind(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", sse(`{"id": "p-bad", "type": "project_start"}`, `{"content": "", "type": "message_result"}`)))
	store := genspark.NewMemoryBindings(0)
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoBind = true; c.AutoDelete = true; c.Bindings = store })
	if _, err := chat(t, p, account("a", "c"), userReq("gpt-5.1", "x")); err == nil {
		t.Fatal("empty answer succeeded")
	}
	p.Wait()
	if store.Len() != 0 || len(f.reqs("/api/project/delete")) != 0 {
		t.Errorf("bindings %d, deletes %d after a failed answer", store.Len(), len(f.reqs("/api/project/delete")))
	}
}

func TestStaticChatMap(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", chatServer())
	store := genspark.NewMemoryBindings(0)
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) {
		c.ModelChatMap = map[string]string{"gpt-5.1": "static-1", "my-moa-name": "static-2"}
		c.AutoBind = true
		c.AutoDelete = true
		c.Bindings = store
	})
	tests := []struct {
		acct, model, want string
	}{
		{"a1", "gpt-5.1", "id=static-1&type=COPILOT_MOA_CHAT"},
		{"a2", "gpt-5.1", "id=static-1&type=COPILOT_MOA_CHAT"},
		{"a1", "gpt-5.1-search", "id=static-1&type=COPILOT_MOA_CHAT"},
		{"a1", "my-moa-name", "id=static-2&type=COPILOT_MOA_CHAT"},
	}
	for _, tt := range tests {
		if _, err := chat(t, p, account(tt.acct, "c-"+tt.acct), userReq(tt.model, "x")); err != nil {
			t.Fatal(err)
		}
		if got := queryOf(t, f.lastAsk(t)); got != tt.want {
			t.Errorf("%s %s: query %q, want %q", tt.acct, tt.model, got, tt.want)
		}
	}
	p.Wait()
	if store.Len() != 0 {
		t.Errorf("static chats stored %d automatic bindings", store.Len())
	}
	if n := len(f.reqs("/api/project/delete")); n != 0 {
		t.Errorf("static chats deleted (%d)", n)
	}
}

func TestAutoDelete(t *testing.T) {
	tests := []struct {
		name       string
		autoBind   bool
		autoDelete bool
		answer     string
		wantDelete []string
	}{
		{"unbound chat deleted", false, true, okAnswer("proj-9", "ok"), []string{"proj-9"}},
		{"off by default", false, false, okAnswer("proj-9", "ok"), nil},
		{"bound chat kept", true, true, okAnswer("proj-9", "ok"), nil},
		{"no project id, nothing to delete", false, true, sse(`{"content": "ok", "type": "message_result"}`), nil},
		{"id needing escaping", false, true, okAnswer("a&b=c", "ok"), []string{"a&b=c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(200, "", tt.answer))
			f.handle("/api/project/delete", respond(200, "application/json", `{"status":0}`))
			p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoBind = tt.autoBind; c.AutoDelete = tt.autoDelete })
			// The client context ends right after the answer: the delete is
			// detached from it.
			ctx, cancel := context.WithCancel(context.Background())
			s, err := p.Chat(ctx, account("a1", "session_id=del-cookie"), userReq("gpt-5.1", "x"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := llm.Collect(s); err != nil {
				t.Fatal(err)
			}
			s.Close()
			cancel()
			p.Wait()
			dels := f.reqs("/api/project/delete")
			var got []string
			for _, d := range dels {
				q, _ := url.ParseQuery(d.Query)
				got = append(got, q.Get("project_id"))
				if d.Method != http.MethodGet || d.Header.Get("Cookie") != "session_id=del-cookie" || d.Header.Get("Accept") != "application/json" {
					t.Errorf("delete request %s cookie %q accept %q", d.Method, d.Header.Get("Cookie"), d.Header.Get("Accept"))
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantDelete, ",") {
				t.Errorf("deleted %v, want %v", got, tt.wantDelete)
			}
		})
	}
	t.Run("failure is only logged", func(t *testing.T) {
		f := newFake(t)
		f.handle("/api/copilot/ask", respond(200, "", okAnswer("proj-1", "ok")))
		f.handle("/api/project/delete", respond(500, "", "Internal Server Error"))
		p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoDelete = true })
		a, err := chat(t, p, account("a1", "c"), userReq("gpt-5.1", "x"))
		if err != nil || a.Text != "ok" {
			t.Fatalf("answer %+v, %v", a, err)
		}
		p.Wait()
		if len(f.reqs("/api/project/delete")) != 1 {
			t.Error("delete not attempted")
		}
	})
}

func TestMemoryBindings(t *testing.T) {
	ctx := context.Background()
	b := genspark.NewMemoryBindings(2)
	k := func(i int) genspark.BindingKey {
		return genspark.BindingKey{AccountID: "a", Model: "m", ClientKey: fmt.Sprint(i)}
	}
	tests := []struct {
		name string
		op   func() error
	}{
		{"set 1", func() error { return b.Set(ctx, k(1), "c1") }},
		{"set 2", func() error { return b.Set(ctx, k(2), "c2") }},
		{"touch 1", func() error { _, _, err := b.Get(ctx, k(1)); return err }},
		{"set 3 evicts 2", func() error { return b.Set(ctx, k(3), "c3") }},
		{"overwrite 1", func() error { return b.Set(ctx, k(1), "c1b") }},
	}
	for _, tt := range tests {
		if err := tt.op(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	want := map[int]string{1: "c1b", 2: "", 3: "c3"}
	for i, w := range want {
		id, ok, err := b.Get(ctx, k(i))
		if err != nil || id != w || ok != (w != "") {
			t.Errorf("Get(%d) = %q %v %v, want %q", i, id, ok, err, w)
		}
	}
	if err := b.Delete(ctx, k(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, k(42)); err != nil {
		t.Errorf("deleting a missing binding: %v", err)
	}
	if _, ok, _ := b.Get(ctx, k(1)); ok || b.Len() != 1 {
		t.Errorf("after delete: ok %v len %d", ok, b.Len())
	}
}

// failingBindings always fails; the provider degrades to new chats.
type failingBindings struct{}

func (failingBindings) Get(context.Context, genspark.BindingKey) (string, bool, error) {
	return "", false, errors.New("store down")
}
func (failingBindings) Set(context.Context, genspark.BindingKey, string) error {
	return errors.New("store down")
}
func (failingBindings) Delete(context.Context, genspark.BindingKey) error {
	return errors.New("store down")
}

func TestBindingStoreFailureDegrades(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", chatServer())
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoBind = true; c.Bindings = failingBindings{} })
	for i := 0; i < 2; i++ {
		if _, err := chat(t, p, account("a", "c"), userReq("gpt-5.1", "x")); err != nil {
			t.Fatal(err)
		}
		if got := queryOf(t, f.lastAsk(t)); got != "type=COPILOT_MOA_CHAT" {
			t.Errorf("query = %q", got)
		}
	}
}

func TestResolveAndModels(t *testing.T) {
	p := newProvider(t, "http://127.0.0.1:1", nil)
	tests := []struct {
		model    string
		ok       bool
		fallback bool
		kind     llm.ModelKind
		id       string
	}{
		{"gpt-5.1", true, false, llm.KindChat, "gpt-5.1"},
		{"gpt-5.1-search", true, false, llm.KindChat, "gpt-5.1"},
		{"claude-opus-4-6", true, false, llm.KindChat, "claude-opus-4-6"},
		{"gpt-image-1", true, false, llm.KindImage, "gpt-image-1"},
		{"sora-2", true, false, llm.KindVideo, "sora-2"},
		{"gemini/veo3.1", true, false, llm.KindVideo, "gemini/veo3.1"},
		{"totally-unknown", true, true, llm.KindChat, "totally-unknown"},
		{"unknown-search", true, true, llm.KindChat, "unknown-search"},
		{"", false, false, "", ""},
	}
	for _, tt := range tests {
		m, ok := p.Resolve(tt.model)
		if ok != tt.ok || m.Fallback != tt.fallback || m.Model.Kind != tt.kind || m.Model.ID != tt.id {
			t.Errorf("Resolve(%q) = %+v, %v", tt.model, m, ok)
		}
		if ok && m.Model.OwnedBy != "genspark" {
			t.Errorf("Resolve(%q).OwnedBy = %q", tt.model, m.Model.OwnedBy)
		}
	}
	models := p.Models(context.Background())
	kinds := map[llm.ModelKind]int{}
	for _, m := range models {
		kinds[m.Kind]++
		if m.OwnedBy != "genspark" || strings.HasSuffix(m.ID, "-search") {
			t.Errorf("listed %+v", m)
		}
	}
	if kinds[llm.KindChat] == 0 || kinds[llm.KindImage] == 0 || kinds[llm.KindVideo] == 0 {
		t.Errorf("kinds listed: %v", kinds)
	}
	if p.Name() != "genspark" {
		t.Errorf("Name = %q", p.Name())
	}

	t.Run("MoA disabled", func(t *testing.T) {
		cat, err := catalog.Defaults{genspark.Name: genspark.Plugin().Catalog}.Parse("genspark", "test", []byte(`{"genspark":{"moa":[]}}`))
		if err != nil {
			t.Fatal(err)
		}
		p := newProvider(t, "http://127.0.0.1:1", func(c *genspark.Config) { c.Catalog = cat })
		if m, ok := p.Resolve("totally-unknown"); ok {
			t.Errorf("Resolve = %+v with MoA disabled", m)
		}
		if _, ok := p.Resolve("gpt-5.1"); !ok {
			t.Error("catalog model not resolved")
		}
		_, err = p.Chat(context.Background(), account("a", "c"), userReq("totally-unknown", "x"))
		if err == nil {
			t.Error("Chat accepted an unknown model with MoA disabled")
		}
	})
}
