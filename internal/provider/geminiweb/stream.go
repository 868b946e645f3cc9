package geminiweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// verifyWindow is how many content frames may pass without a served model
// ([39]/[42]) before the stream gives up verifying it and starts emitting.
const verifyWindow = 3

// stream is one answer being read. It reads the body synchronously in
// Recv: no goroutine outlives the request (the idle timer only cancels the
// request context).
type stream struct {
	p    *Provider
	x    *exchange
	sess *session
	g    *genRequest
	resp *http.Response
	fr   *FrameReader
	ctx  context.Context
	stop context.CancelFunc
	idle *time.Timer

	idleHit atomic.Bool
	closed  atomic.Bool

	queue []llm.Event
	done  bool
	err   error

	text, thoughts         Differ
	lastText, lastThoughts string
	imagesSeen             map[string]bool
	pendingImages          []Image

	emitted       bool // an event was queued
	verified      bool // served model checked (or given up)
	contentFrames int
	sawPayload    bool
	sawCandidate  bool
	complete      bool // candidate status 2
	endMarker     bool // ["e", ...]
	statuses      []int
	codes         []int
	unreadable    int // entries or payloads that could not be decoded
	tool          *ToolStatus
	cid, rid      string
	rcid, token   string
}

var _ llm.BufferedStream = (*stream)(nil)

func newStream(x *exchange, s *session, g *genRequest, resp *http.Response, ctx context.Context, stop context.CancelFunc) *stream {
	st := &stream{
		p: x.p, x: x, sess: s, g: g, resp: resp, ctx: ctx, stop: stop,
		fr:         NewFrameReader(resp.Body, x.p.cfg.MaxFrameBytes),
		imagesSeen: map[string]bool{},
	}
	st.idle = time.AfterFunc(x.p.cfg.IdleTimeout, func() {
		st.idleHit.Store(true)
		stop()
	})
	return st
}

// prime reads until the first event is queued or the answer failed. An
// error before the first event is returned (Chat returns it).
func (s *stream) prime() error {
	for len(s.queue) == 0 && !s.done {
		s.step()
	}
	if len(s.queue) == 0 && s.err != nil {
		return s.err
	}
	return nil
}

// Recv implements llm.Stream.
func (s *stream) Recv() (llm.Event, error) {
	for {
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = llm.Event{}
			s.queue = s.queue[1:]
			return ev, nil
		}
		if s.done {
			if s.err != nil {
				return llm.Event{}, s.err
			}
			return llm.Event{}, io.EOF
		}
		if s.closed.Load() {
			return llm.Event{}, newErr(gw.CodeCanceled, "the Gemini stream was closed")
		}
		s.step()
	}
}

// Buffered implements llm.BufferedStream: true while events of a frame
// already read are queued. It does not look into the read buffer: a frame
// is only known to be whole once it is parsed, and turning one into events
// (snapshot diffing, the end-of-answer binding) is left to Recv.
func (s *stream) Buffered() bool { return len(s.queue) > 0 }

// Close implements llm.Stream: it cancels the upstream request and closes
// the body. Safe to call more than once and from another goroutine.
func (s *stream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.idle.Stop()
	s.stop()
	return s.resp.Body.Close()
}

// step reads and handles one frame.
func (s *stream) step() {
	f, err := s.fr.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.finish()
			return
		}
		s.fail(s.readError(err))
		return
	}
	s.idle.Reset(s.p.cfg.IdleTimeout)
	for _, raw := range f.Entries {
		e, err := ParseEntry(raw)
		if err != nil {
			s.unreadable++
			s.p.log.Debug("skipping an unreadable envelope entry", "err", err)
			continue
		}
		s.handleEntry(e)
		if s.done {
			return
		}
	}
	s.flush(false)
}

func (s *stream) readError(err error) error {
	switch {
	case s.idleHit.Load():
		return newErr(gw.CodeUpstreamTimeout, fmt.Sprintf("Gemini sent nothing for %s; the answer stalled", s.p.cfg.IdleTimeout))
	case s.closed.Load():
		return newErr(gw.CodeCanceled, "the Gemini stream was closed")
	}
	return transportError(s.ctx, err, "answer stream")
}

// fail ends the stream with err after the queued events.
func (s *stream) fail(err error) {
	if s.done {
		return
	}
	if errors.Is(err, errSessionRejected) && s.emitted {
		err = errLoggedOut("Gemini rejected the session in the middle of an answer")
	}
	s.done, s.err = true, err
	s.idle.Stop()
}

func (s *stream) push(ev llm.Event) {
	s.queue = append(s.queue, ev)
	s.emitted = true
}

// handleEntry handles one envelope entry.
func (s *stream) handleEntry(e Entry) {
	switch e.Kind {
	case "wrb.fr":
		if e.HasPayload {
			pl, err := ParsePayload(e.Payload)
			if err != nil {
				s.unreadable++
				s.p.log.Debug("skipping an unreadable inner payload", "err", err)
				return
			}
			s.handlePayload(pl)
			return
		}
		if e.Status == nil {
			return
		}
		for _, t := range e.DetailTypes {
			lt := strings.ToLower(t)
			if strings.Contains(lt, "attestation") || strings.Contains(lt, "botguard") {
				s.fail(errAttestation("an anti-bot attestation proof (BotGuard) with the request"))
				return
			}
		}
		for _, c := range e.ErrorCodes {
			s.codes = append(s.codes, c)
			// Normal answers end with 1096 too: only its lonely form is
			// a rejection, decided at the end of the body.
			if c != codeNotPersisted {
				s.fail(errorForCode(c))
				return
			}
		}
		if len(e.ErrorCodes) == 0 {
			s.statuses = append(s.statuses, e.StatusCode)
		}
	case "er":
		s.fail(errSessionRejected)
	case "e":
		s.endMarker = true
	}
}

// handlePayload records what one inner payload says.
func (s *stream) handlePayload(pl *Payload) {
	s.sawPayload = true
	if pl.CID != "" {
		s.cid = pl.CID
	}
	if pl.RID != "" {
		s.rid = pl.RID
	}
	if pl.Tool != nil {
		s.tool = pl.Tool
		s.p.log.Debug("gemini tool status", "tool", pl.Tool.Tool, "label", pl.Tool.Label, "state", pl.Tool.State)
	}
	if pl.ContextToken != "" {
		s.token = pl.ContextToken
	}
	if !s.verified && (pl.ServedModel != "" || pl.ServedModelName != "") {
		s.verify(pl.ServedModel, pl.ServedModelName)
		if s.done {
			return
		}
	}
	if len(pl.Candidates) == 0 {
		return
	}
	c := pl.Candidates[0]
	for _, cand := range pl.Candidates {
		if s.rcid != "" && cand.RCID == s.rcid {
			c = cand
			break
		}
	}
	if s.rcid == "" {
		s.rcid = c.RCID
	}
	s.sawCandidate = true
	s.contentFrames++
	s.lastText, s.lastThoughts = c.Text, c.Thoughts
	for _, im := range c.Images {
		if !s.imagesSeen[im.URL] {
			s.imagesSeen[im.URL] = true
			s.pendingImages = append(s.pendingImages, im)
		}
	}
	if c.Status == 2 {
		s.complete = true
	}
	if !s.verified && s.contentFrames >= verifyWindow {
		s.verified = true
		s.p.log.Debug("Gemini did not name the served model; not verified", "account", s.x.acct.ID)
	}
}

// verify compares the served model with the requested one.
//
// Mismatch policy: Gemini silently serves a weaker model (Pro → Flash →
// Flash-Lite) when an account is throttled, its tier lacks the model, or the
// session degraded — the most reported problem with web-app gateways. A
// client that named a specific Gemini model must not get another one
// under that name, so when the mismatch is known before the first event the
// exchange fails with gw.CodeModelMismatch (502; the pool fails over to
// another account and, if none serves it, the client sees both model names).
// A generic alias (gpt-4o, ...) asks for "a good model", so there the
// mismatch is only logged and counted; so is a mismatch discovered after
// text has already been sent (it cannot be taken back). Served ids that are
// aliases of the requested one (paid and free hex ids of one model), or
// whose family equals it, are not mismatches.
func (s *stream) verify(hex, name string) {
	s.verified = true
	sel := s.x.sel
	hex = strings.ToLower(hex)
	if hex != "" && sel.accepted[hex] {
		return
	}
	fam := ""
	s.x.st.mu.Lock()
	if am := s.x.st.models; am != nil {
		for _, m := range am.models {
			if containsStr(m.hexes, hex) {
				fam = m.family
				break
			}
		}
	}
	s.x.st.mu.Unlock()
	if fam == "" && hex != "" {
		fam = s.p.idx().familyOfHex(hex)
	}
	if fam == "" {
		fam = familyOfName(name)
	}
	if fam == "" || sel.family == "" {
		s.p.log.Debug("cannot tell the served model's family", "account", s.x.acct.ID, "served", name, "served_hex", hex)
		return
	}
	if fam == sel.family {
		return
	}
	served := strings.TrimSpace(name)
	switch {
	case served == "":
		served = hex
	case hex != "":
		served += " (" + hex + ")"
	}
	requested := sel.requested + " (" + sel.hex + ")"
	fatal := !s.x.generic && !s.emitted
	s.p.mismatches.Add(1)
	s.p.log.Warn("Gemini served another model than requested", "account", s.x.acct.ID,
		"requested", requested, "served", served, "generic_alias", s.x.generic, "failed", fatal)
	if f := s.p.cfg.OnMismatch; f != nil {
		f(MismatchEvent{AccountID: s.x.acct.ID, Requested: requested, Served: served, Generic: s.x.generic, Failed: fatal})
	}
	if fatal {
		s.fail(&gw.Error{Code: gw.CodeModelMismatch, Provider: Name,
			Message: "Gemini served " + served + " instead of the requested " + requested + " on this account (a silent downgrade)"})
	}
}

// flush turns the latest snapshots into events.
func (s *stream) flush(final bool) {
	if !s.verified && !final {
		return
	}
	var dt, dx string
	if final {
		dt, dx = s.thoughts.Final(s.lastThoughts), s.text.Final(s.lastText)
	} else {
		dt, dx = s.thoughts.Next(s.lastThoughts), s.text.Next(s.lastText)
	}
	if dt != "" {
		s.push(llm.Event{Type: llm.EventReasoningDelta, Text: dt})
	}
	if dx != "" {
		s.push(llm.Event{Type: llm.EventTextDelta, Text: dx})
	}
	for _, im := range s.pendingImages {
		s.push(llm.Event{Type: llm.EventImage, Media: &llm.Media{URL: im.URL, Name: im.Alt, Account: s.x.acct.ID}})
	}
	s.pendingImages = nil
}

// finish handles the end of the body.
func (s *stream) finish() {
	if s.done {
		return
	}
	if !s.sawCandidate {
		s.fail(s.noContentError())
		return
	}
	if !s.complete && !s.endMarker && s.token == "" && !s.fr.Closed() {
		s.fail(newErr(gw.CodeTransient, "the Gemini answer ended before it was complete"))
		return
	}
	s.verified = true
	s.flush(true)
	if n := s.text.Retractions() + s.thoughts.Retractions(); n > 0 {
		s.p.retractions.Add(uint64(n))
		s.p.log.Info("Gemini rewrote text that was already sent", "account", s.x.acct.ID, "snapshots", n)
	}
	s.push(llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop})
	s.done = true
	s.idle.Stop()
	s.completed()
}

// noContentError explains a body without any answer (never an empty
// success).
func (s *stream) noContentError() error {
	if len(s.codes) > 0 {
		return errorForCode(s.codes[0])
	}
	detail := ""
	if s.tool != nil {
		label := s.tool.Label
		if label == "" {
			label = s.tool.Tool
		}
		if label == "" {
			label = s.tool.Text
		}
		detail = " after the tool status " + fmt.Sprintf("%q", label)
	}
	if len(s.statuses) > 0 {
		return newErr(gw.CodeUpstream, fmt.Sprintf("Gemini returned no answer%s (status %d)", detail, s.statuses[len(s.statuses)-1]))
	}
	if s.sawPayload {
		return newErr(gw.CodeUpstream, "Gemini returned no answer"+detail)
	}
	if s.unreadable > 0 {
		return newErr(gw.CodeProtocolChanged, "Gemini answered in an unknown format (no readable entry): the web protocol probably changed; update spark")
	}
	return newErr(gw.CodeUpstream, "Gemini returned an empty body")
}

// completed runs after a finished answer: the chat binding and the
// background deletion.
func (s *stream) completed() {
	x := s.x
	p := s.p
	if s.cid == "" {
		return
	}
	if p.cfg.AutoDelete {
		p.deleteChat(*x.acct, x.st, s.sess, s.cid)
		return
	}
	if p.cfg.ContinueChats && s.token != "" && s.rid != "" && s.rcid != "" {
		turn := 1
		if x.meta != nil {
			turn = x.meta.turn + 1
		}
		answer := s.text.Text()
		k := bindingKey(x.acct.ID, x.req.ClientKey, x.sel.family, x.req.Messages, &answer)
		p.storeBinding(k, chatMeta{cid: s.cid, rid: s.rid, rcid: s.rcid, token: s.token, turn: turn})
	}
}
