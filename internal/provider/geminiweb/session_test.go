package geminiweb_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

func TestRotationSavesCookie(t *testing.T) {
	e := newEnv(t)
	acct := account("rosa")
	e.ok(acct, userReq("gemini-3-flash", "first"))
	if n := len(e.entries("/RotateCookies")); n != 0 {
		t.Fatalf("%d rotations before one was due", n)
	}
	e.clock.Advance(11 * time.Minute)
	e.ok(acct, userReq("gemini-3-flash", "second"))
	rot := e.entries("/RotateCookies")
	if len(rot) != 1 {
		t.Fatalf("%d rotations, want 1", len(rot))
	}
	newTS := fact(rot[0], "new_psidts")
	if newTS == "" || fact(rot[0], "flow") != "sentinel" {
		t.Fatalf("rotation facts %v", rot[0].Facts)
	}
	// Only __Secure-1PSID and __Secure-1PSIDTS, although the jar holds the
	// SIDCC family by now.
	if got := fact(rot[0], "cookie_names"); got != "__Secure-1PSID,__Secure-1PSIDTS" {
		t.Errorf("rotation sent cookies %q", got)
	}
	saved := e.saver.get(acct.ID)
	if len(saved) != 1 || !strings.Contains(saved[0], "__Secure-1PSIDTS="+newTS) || !strings.Contains(saved[0], "__Secure-1PSID=rosa") {
		t.Fatalf("saved cookies %q", saved)
	}
	if !strings.Contains(saved[0], "SIDCC=") {
		t.Errorf("merged Set-Cookies not kept: %q", saved[0])
	}
	// The rotated value is what the next requests send.
	if got := e.last(genPath).Header["Cookie"]; !strings.Contains(got, "__Secure-1PSIDTS="+newTS) {
		t.Errorf("StreamGenerate after rotation sent %q", got)
	}
	// The store hands the saved cookie back: it is recognised, not a reset.
	stored := *acct
	stored.Cookie = saved[0]
	e.ok(&stored, userReq("gemini-3-flash", "third"))
	if n := len(e.entries("/app")); n != 1 {
		t.Errorf("%d app page fetches, want 1 (session kept)", n)
	}
	// RotateDue honours the interval: nothing more is due yet.
	e.p.RotateDue(t.Context(), []*gw.Account{&stored})
	if n := len(e.entries("/RotateCookies")); n != 1 {
		t.Errorf("%d rotations", n)
	}
	// After two more rotations the imported PSIDTS is dead upstream; the
	// account still works because spark sends the rotated one.
	for range 2 {
		e.clock.Advance(11 * time.Minute)
		e.p.RotateDue(t.Context(), []*gw.Account{&stored})
	}
	if n := len(e.entries("/RotateCookies")); n != 3 {
		t.Fatalf("%d rotations, want 3", n)
	}
	e.ok(&stored, userReq("gemini-3-flash", "fourth"))
	if got := e.p.Stats().Rotations; got != 3 {
		t.Errorf("rotations stat %d", got)
	}
}

func TestRotationWithoutNewCookie(t *testing.T) {
	e := newEnv(t)
	acct := account("norotate-nina")
	e.p.RotateDue(t.Context(), []*gw.Account{acct}) // first sight starts the clock
	e.clock.Advance(11 * time.Minute)
	e.ok(acct, userReq("gemini-3-flash", "hello"))
	rot := e.settled("/RotateCookies")
	if len(rot) != 1 || fact(rot[0], "new_psidts") != "" || rot[0].Outcome != simcore.OutcomeCompleted {
		t.Fatalf("rotations %+v", rot)
	}
	if saved := e.saver.get(acct.ID); len(saved) != 0 {
		t.Errorf("cookie saved although no new __Secure-1PSIDTS came: %q", saved)
	}
	if got := e.last(genPath).Header["Cookie"]; !strings.Contains(got, "__Secure-1PSIDTS=sidts-imported-norotate-nina") {
		t.Errorf("cookie after rotation %q", got)
	}
}

// A 401 on rotation means the session is dead: the next Chat says so.
func TestRotation401LogsOut(t *testing.T) {
	e := newEnv(t)
	acct := account("expired-olga")
	e.p.RotateDue(t.Context(), []*gw.Account{acct})
	e.clock.Advance(11 * time.Minute)
	e.p.RotateDue(t.Context(), []*gw.Account{acct})
	if rot := e.settled("/RotateCookies"); len(rot) != 1 || rot[0].Outcome != simcore.OutcomeRejected {
		t.Fatalf("rotations %+v", rot)
	}
	ge := e.fails(acct, userReq("gemini-3-flash", "hi"), gw.CodeLoggedOut)
	mustContain(t, ge.Message, "401")
	if n := len(e.entries("/app")); n != 0 {
		t.Errorf("%d page fetches after the 401", n)
	}
}

// Concurrent callers never run two rotations of one account.
func TestRotationSingleFlight(t *testing.T) {
	e := newEnv(t)
	acct := account("pia")
	e.p.RotateDue(t.Context(), []*gw.Account{acct})
	e.clock.Advance(11 * time.Minute)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			e.p.RotateDue(context.Background(), []*gw.Account{acct})
		}()
	}
	for range 8 {
		<-done
	}
	if n := len(e.entries("/RotateCookies")); n != 1 {
		t.Fatalf("%d rotations, want 1", n)
	}
	// The 60 s floor: a failed or successful attempt is not repeated at once.
	e.clock.Advance(30 * time.Second)
	e.p.RotateDue(t.Context(), []*gw.Account{acct})
	if n := len(e.entries("/RotateCookies")); n != 1 {
		t.Fatalf("%d rotations, want 1", n)
	}
}

func TestModelResolution(t *testing.T) {
	e := newEnv(t)
	for name, want := range map[string]string{
		"gemini-3-flash":        "gemini-3-flash",
		"GEMINI-3-FLASH":        "gemini-3-flash",
		"3 Flash":               "gemini-3-flash",
		"3 flash":               "gemini-3-flash",
		"Gemini 3 Flash":        "gemini-3-flash",
		hexFlash:                "gemini-3-flash",
		"gpt-4o":                "gemini-3-flash",
		"gpt-3.5-turbo":         "gemini-3-flash",
		"gemini-3-pro":          "gemini-3-pro",
		"3 Pro":                 "gemini-3-pro",
		hexPro:                  "gemini-3-pro",
		"gemini-pro":            "gemini-3-pro",
		"gemini-3.1-flash-lite": "gemini-3.1-flash-lite",
		"3.1 flash-lite":        "gemini-3.1-flash-lite",
		hexLite:                 "gemini-3.1-flash-lite",
	} {
		m, ok := e.p.Resolve(name)
		if !ok || m.Model.ID != want || m.Fallback {
			t.Errorf("Resolve(%q) = %+v, %v; want %s", name, m, ok, want)
		}
	}
	ids := func() []string {
		var out []string
		for _, m := range e.p.Models(t.Context()) {
			if m.OwnedBy != geminiweb.Name || m.Kind != llm.KindChat {
				t.Errorf("model %+v", m)
			}
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"gemini-3-flash", "gemini-3-pro", "gemini-3.1-flash-lite"}) {
		t.Errorf("static models %v", got)
	}
	// The four name forms select the model on the wire.
	for _, name := range []string{"gemini-3-pro", "3 Pro", hexPro, "gemini-pro"} {
		e.ok(account("quinn"), userReq(name, "hi"))
		if got := fact(e.last(genPath), "model"); got != hexPro {
			t.Errorf("%q sent model %q", name, got)
		}
	}
	// Live discovery (otAQ7b) adds the account's own names.
	if es := e.entries(batch); len(es) == 0 || fact(es[0], "rpcids") != "otAQ7b" {
		t.Fatalf("no discovery call: %+v", es)
	}
	got := ids()
	for _, id := range []string{"gemini-3-flash", "gemini-3-pro", "gemini-3.1-flash-lite", "gemini-3.6-flash", "gemini-3.1-pro"} {
		if !slices.Contains(got, id) {
			t.Errorf("models %v lack %s", got, id)
		}
	}
	for name, want := range map[string]string{"3.6 Flash": "gemini-3.6-flash", "gemini-3.1-pro": "gemini-3.1-pro", "5bf011840784117a": "gemini-3.1-flash-lite"} {
		if m, ok := e.p.Resolve(name); !ok || m.Model.ID != want {
			t.Errorf("after discovery Resolve(%q) = %+v, %v", name, m, ok)
		}
	}
	// Discovery is cached: one otAQ7b per account and TTL.
	if n := len(e.entries(batch)); n != 1 {
		t.Errorf("%d discovery calls", n)
	}
	e.clock.Advance(61 * time.Minute)
	e.ok(account("quinn"), userReq("gemini-3-flash", "hi"))
	if n := len(e.entries(batch)); n != 2 {
		t.Errorf("%d discovery calls after the TTL", n)
	}
}

// A paid account's discovered list selects its own hex ids and capacity.
func TestPlusAccountModels(t *testing.T) {
	e := newEnv(t)
	e.ok(account("plus-ray"), userReq("gemini-3-pro", "hi"))
	en := e.last(genPath)
	if fact(en, "model") != "e6fa609c3fa255c0" || fact(en, "capacity") != "4" || fact(en, "served_model_name") != "3.1 Pro" {
		t.Errorf("facts %v", en.Facts)
	}
	e.ok(account("plus-ray"), userReq("gemini-3-flash", "hi"))
	if en := e.last(genPath); fact(en, "model") != "56fdd199312815e2" || fact(en, "served_model_name") != "3.7 Flash" {
		t.Errorf("facts %v", en.Facts)
	}
	if e.p.Stats().ModelMismatches != 0 {
		t.Error("aliased hex ids counted as a mismatch")
	}
}

func TestUploadThenReference(t *testing.T) {
	e := newEnv(t)
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	req := &llm.Request{Model: "gemini-3-flash", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
		{Type: llm.PartText, Text: "What is in these?"},
		{Type: llm.PartImage, Media: &llm.Media{MIMEType: "image/png", Data: png}},
		{Type: llm.PartFile, Media: &llm.Media{Name: "notes.txt", MIMEType: "text/plain", Data: []byte("secret plan: bake bread")}},
	}}}}
	r := e.ok(account("uma"), req)
	ups := e.entries("/upload")
	if len(ups) != 2 {
		t.Fatalf("%d uploads", len(ups))
	}
	if fact(ups[0], "protocol") != "multipart" || fact(ups[0], "tenant") != "bard-storage" || !strings.HasPrefix(fact(ups[0], "push_id"), "feeds/") ||
		fact(ups[0], "mime") != "image/png" || fact(ups[0], "file_name") != "image1.png" {
		t.Errorf("upload facts %v", ups[0].Facts)
	}
	if _, ok := ups[0].Header["Cookie"]; ok {
		t.Error("cookies sent to the upload service")
	}
	if fact(ups[1], "file_name") != "notes.txt" || fact(ups[1], "mime") != "text/plain" {
		t.Errorf("upload facts %v", ups[1].Facts)
	}
	if en := e.last(genPath); fact(en, "files") != "2" {
		t.Errorf("generate facts %v", en.Facts)
	}
	mustContain(t, r.answer.Text, `Attachment "image1.png" (image/png, `)
	mustContain(t, r.answer.Text, `Attachment "notes.txt" (text/plain, 23 bytes) received.`)
	mustContain(t, r.answer.Text, "secret plan: bake bread") // the text attachment was read
}

func TestAutoDeleteChat(t *testing.T) {
	e := newEnv(t, func(c *geminiweb.Config) { c.AutoDelete = true })
	e.ok(account("vic"), userReq("gemini-3-flash", "hello"))
	e.p.Wait()
	cid := fact(e.last(genPath), "new_cid")
	deletions := func(es []simcore.Entry) []simcore.Entry {
		var del []simcore.Entry
		for _, en := range es {
			if strings.HasSuffix(en.Path, batch) && fact(en, "rpcs") == "GzXR5e" {
				del = append(del, en)
			}
		}
		return del
	}
	// The client is done once the answer arrived; the simulator records
	// the outcome right after.
	es := e.waitFor("the deletion to complete", func(es []simcore.Entry) bool {
		del := deletions(es)
		return len(del) > 0 && del[0].Outcome != simcore.OutcomePending
	})
	if del := deletions(es); len(del) != 1 || cid == "" || fact(del[0], "deleted_cid") != cid || del[0].Outcome != simcore.OutcomeCompleted {
		t.Fatalf("cid %q, deletions %+v", cid, del)
	}
	if e.p.Stats().ChatsDeleted != 1 {
		t.Error("deletion not counted")
	}
	// Without AUTO_DEL_CHAT nothing is deleted.
	e2 := newEnv(t)
	e2.ok(account("vic"), userReq("gemini-3-flash", "hello"))
	e2.p.Wait()
	for _, en := range e2.entries(batch) {
		if fact(en, "rpcs") == "GzXR5e" {
			t.Fatal("chat deleted without AutoDelete")
		}
	}
}

// With ContinueChats, the second turn continues the upstream chat with its
// ids and sends only the new turn.
func TestContinuation(t *testing.T) {
	e := newEnv(t, func(c *geminiweb.Config) { c.ContinueChats = true })
	acct := account("walt")
	first := userReq("gemini-3-flash", "My name is Walt.")
	first.ClientKey = "key1"
	r1 := e.ok(acct, first)
	g1 := e.last(genPath)
	if fact(g1, "cid") != "" {
		t.Fatalf("first turn continued a chat: %v", g1.Facts)
	}
	second := &llm.Request{Model: "gemini-3-flash", ClientKey: "key1", Messages: []llm.Message{
		llm.TextMessage(llm.RoleUser, "My name is Walt."),
		llm.TextMessage(llm.RoleAssistant, r1.answer.Text),
		llm.TextMessage(llm.RoleUser, "What is my name?"),
	}}
	e.ok(acct, second)
	g2 := e.last(genPath)
	for k, want := range map[string]string{
		"cid": fact(g1, "new_cid"), "rid": fact(g1, "new_rid"), "rcid": fact(g1, "new_rcid"),
		"turn_index": "1", "prompt": "What is my name?",
	} {
		if got := fact(g2, k); got != want || want == "" {
			t.Errorf("second turn %s = %q, want %q", k, got, want)
		}
	}
	if fact(g2, "context_token") == "" {
		t.Error("no context token sent")
	}
	// Another client key, or a changed history, starts a new chat.
	other := *second
	other.ClientKey = "key2"
	e.ok(acct, &other)
	if g := e.last(genPath); fact(g, "cid") != "" || !strings.HasPrefix(fact(g, "prompt"), "User: My name is Walt.") {
		t.Errorf("other key: %v", g.Facts)
	}
}

// A continuation the upstream refuses (a deleted chat, 1050, ...) is retried
// once as a new chat with the whole history.
func TestContinuationFailureRetriesFresh(t *testing.T) {
	e := newEnv(t, func(c *geminiweb.Config) { c.ContinueChats = true })
	acct := account("xena")
	r1 := e.ok(acct, userReq("gemini-3-flash", "hello"))
	second := &llm.Request{Model: "gemini-3-flash", Messages: []llm.Message{
		llm.TextMessage(llm.RoleUser, "hello"),
		llm.TextMessage(llm.RoleAssistant, r1.answer.Text),
		llm.TextMessage(llm.RoleUser, "again sim:code 1052"),
	}}
	e.fails(acct, second, gw.CodeProtocolChanged)
	gens := e.entries(genPath)
	if len(gens) != 3 || fact(gens[1], "cid") == "" || fact(gens[2], "cid") != "" {
		t.Fatalf("want a continuation then a fresh retry: %d calls", len(gens))
	}
}

func TestCancellation(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := e.p.Chat(ctx, account("yan"), userReq("gemini-3-flash", "slow sim:slow 300 sim:long 40"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	var rerr error
	for rerr == nil {
		_, rerr = st.Recv()
	}
	if gw.ErrorCode(rerr) != gw.CodeCanceled {
		t.Errorf("Recv after cancel: %v", rerr)
	}
	e.waitFor("the simulator to record the cancellation", func(es []simcore.Entry) bool {
		for _, en := range es {
			if strings.HasSuffix(en.Path, genPath) {
				return en.Outcome == simcore.OutcomeCancelled
			}
		}
		return false
	})
}

func TestCloseCancelsUpstream(t *testing.T) {
	e := newEnv(t)
	st, err := e.p.Chat(t.Context(), account("zoe"), userReq("gemini-3-flash", "slow sim:slow 300 sim:long 40"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); gw.ErrorCode(err) != gw.CodeCanceled {
		t.Errorf("Recv after Close: %v", err)
	}
	e.waitFor("the simulator to record the cancellation", func(es []simcore.Entry) bool {
		for _, en := range es {
			if strings.HasSuffix(en.Path, genPath) {
				return en.Outcome == simcore.OutcomeCancelled
			}
		}
		return false
	})
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, func(c *geminiweb.Config) { c.IdleTimeout = 50 * time.Millisecond })
	r := e.run(t.Context(), account("abe"), userReq("gemini-3-flash", "slow sim:slow 2000"))
	if gw.ErrorCode(r.err) != gw.CodeUpstreamTimeout {
		t.Fatalf("error %v", r.err)
	}
}

// An expired __Secure-1PSIDTS makes the app page anonymous; one rotation
// revives the session before the account is declared logged out.
func TestStalePSIDTSRevivedByRotation(t *testing.T) {
	e := newEnv(t)
	acct := &gw.Account{ID: "acct-tess", Provider: geminiweb.Name, Cookie: "__Secure-1PSID=tess; __Secure-1PSIDTS=stale-1"}
	r := e.ok(acct, userReq("gemini-3-flash", "still there?"))
	mustContain(t, r.answer.Text, "still there?")
	if n := len(e.entries("/app")); n != 2 {
		t.Errorf("%d page fetches, want 2 (anonymous, then signed in)", n)
	}
	if saved := e.saver.get(acct.ID); len(saved) != 1 || strings.Contains(saved[0], "stale-1") {
		t.Errorf("saved %q", saved)
	}
}

// With several replicas (Config.Claim), a process whose claim loses does
// not rotate the account: the replica that won rotates it, once.
func TestRotationLeftToTheClaimingReplica(t *testing.T) {
	var claims []string
	granted := false
	e := newEnv(t, func(c *geminiweb.Config) {
		c.Claim = func(_ context.Context, job string, period time.Duration) bool {
			claims = append(claims, job+" "+period.String())
			return granted
		}
	})
	acct := account("rita")
	e.p.RotateDue(t.Context(), []*gw.Account{acct}) // first sight starts the clock
	e.clock.Advance(11 * time.Minute)
	e.p.RotateDue(t.Context(), []*gw.Account{acct})
	if n := len(e.entries("/RotateCookies")); n != 0 {
		t.Fatalf("%d rotations while another replica holds the claim", n)
	}
	if want := []string{"rotate:acct-rita 10m0s"}; !slices.Equal(claims, want) {
		t.Fatalf("claims %q, want %q", claims, want)
	}
	granted = true
	e.clock.Advance(time.Minute) // the next attempt, after the floor
	e.p.RotateDue(t.Context(), []*gw.Account{acct})
	if n := len(e.settled("/RotateCookies")); n != 1 {
		t.Fatalf("%d rotations once the claim is this replica's, want 1", n)
	}
}
