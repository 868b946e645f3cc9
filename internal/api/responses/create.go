package responses

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/sse"
	"github.com/sparkgw/spark/internal/store"
)

// create serves POST /v1/responses.
//
// Everything that can fail before the answer starts (body, parameters,
// previous_response_id, the backend's own refusal) is a real HTTP error.
// A streamed answer then always ends with a terminal event:
// response.completed, response.incomplete (token cap, content filter) or
// response.failed. background: true is served like a normal request (the
// answer is complete when it is returned, and stored, so clients polling
// GET /v1/responses/{id} find it done).
func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	cr, err := h.decodeRequest(w, r)
	if err != nil {
		return err
	}
	if err := cr.validate(false); err != nil {
		return err
	}
	ctx := r.Context()
	p, err := h.buildRequest(ctx, cr, false)
	if err != nil {
		return err
	}
	cr = nil // let the decoded input go once converted
	p.req.ClientKey = reqctx.KeyID(ctx)

	if p.stream && p.req.Output != nil && h.opts.KeepAlive > 0 {
		// A structured answer is sent once gathered and validated: keep
		// the stream alive meanwhile.
		if err := h.streamStructured(w, r, p); err != nil {
			return err
		}
		h.maybePrune(ctx)
		return nil
	}

	st, err := h.b.Chat(ctx, &p.req)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("responses: backend returned neither a stream nor an error")
	}
	// Close exactly once: early, before storing and housekeeping, and in
	// any case on return.
	closed := false
	closeStream := func() {
		if !closed {
			closed = true
			_ = st.Close()
		}
	}
	defer closeStream()

	created := h.now()
	t := &streamer{h: h, p: p, created: created,
		resp: newResponse(newID("resp_"), created.Unix(), p, p.store && h.st != nil)}
	t.resp.Model = llm.ModelOf(st, t.resp.Model) // the resolved model (llm.ModelReporter)
	if p.stream {
		t.sw = sse.NewWriter(w)
		h.stream(r, t, st)
		closeStream()
		h.maybePrune(ctx)
		return nil
	}
	if err := h.answer(w, r, t, st, closeStream); err != nil {
		return err
	}
	h.maybePrune(ctx)
	return nil
}

// answer collects the whole answer, stores it and writes one response
// object. A failure while collecting is still a real HTTP error: nothing
// was sent. closeStream releases the upstream before storing.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, t *streamer, st llm.Stream, closeStream func()) error {
	if err := t.consume(st); err != nil {
		return err
	}
	closeStream()
	if err := t.end(); err != nil {
		return err
	}
	h.persist(r.Context(), t)
	writeJSON(w, http.StatusOK, t.resp)
	return nil
}

// stream writes the answer as an event stream. It returns when the stream
// ended, failed, or the client went away (the caller then closes st,
// cancelling the upstream).
//
// Events of the answer that st has ready at once leave in one flush (see
// sse.Writer's Pending); before each Recv that may wait for the upstream
// (see consume), and at the end, whatever was written is flushed.
func (h *Handler) stream(r *http.Request, t *streamer, st llm.Stream) {
	if err := t.sw.Start(); err != nil { // headers from the top of the stack (sse.Writer.Start)
		t.logGone(r, err)
		return
	}
	t.sw.Pending = func() bool { return llm.Buffered(st) }
	defer func() { _ = t.sw.Flush() }()
	// response.created goes out at once (or with the first event, when
	// that is ready too): clients see a 200 and a live stream while the
	// upstream thinks.
	if err := t.start(); err != nil {
		t.logGone(r, err)
		return
	}
	h.run(r, t, st)
}

// streamStructured streams a structured answer: when the backend has not
// answered within KeepAlive, the stream starts (response.created and
// response.in_progress) and an SSE comment follows every KeepAlive until
// it has; a failure after that is sent in-band (response.failed), before
// that it is a real HTTP error.
func (h *Handler) streamStructured(w http.ResponseWriter, r *http.Request, p *params) error {
	ctx := r.Context()
	created := h.now()
	t := &streamer{h: h, p: p, created: created, sw: sse.NewWriter(w),
		resp: newResponse(newID("resp_"), created.Unix(), p, p.store && h.st != nil)}
	begin := func() error {
		if err := t.sw.Start(); err != nil {
			return err
		}
		return t.start()
	}
	st, began, err := wire.AwaitChat(h.opts.KeepAlive,
		func() (llm.Stream, error) { return h.b.Chat(ctx, &p.req) },
		begin, func() error { return t.sw.Comment("keepalive") })
	if err == nil && st == nil {
		err = fmt.Errorf("responses: backend returned neither a stream nor an error")
	}
	switch {
	case err != nil && !began:
		return err
	case err != nil && t.sw.Err() != nil:
		t.logGone(r, err)
		return nil
	case err != nil:
		defer func() { _ = t.sw.Flush() }()
		t.fail(r, err)
		return nil
	}
	defer func() { _ = st.Close() }()
	t.sw.Pending = func() bool { return llm.Buffered(st) }
	defer func() { _ = t.sw.Flush() }()
	if !began {
		// Once the stream began (keepalives while the backend had not
		// answered), response.created named the requested model, and every
		// event keeps it: one response names one model.
		t.resp.Model = llm.ModelOf(st, t.resp.Model)
		if err := begin(); err != nil {
			t.logGone(r, err)
			return nil
		}
	}
	h.run(r, t, st)
	return nil
}

// run writes st's events after the stream started, to its terminal event.
func (h *Handler) run(r *http.Request, t *streamer, st llm.Stream) {
	err := t.consume(st)
	t.sw.Pending = nil // the last events are flushed one by one
	var gone *clientGone
	switch {
	case errors.As(err, &gone):
		t.logGone(r, err)
		return
	case err != nil:
		t.fail(r, err)
		return
	}
	if err := t.end(); err != nil {
		t.logGone(r, err)
		return
	}
	h.persist(r.Context(), t)
	if err := t.terminal(); err != nil {
		t.logGone(r, err)
	}
}

// persist stores the finished response when the request asked for it (the
// default). A response too large to store, or a store failure, is logged
// and the answer says "store": false, so the client knows it cannot be
// continued from.
func (h *Handler) persist(ctx context.Context, t *streamer) {
	resp := t.resp
	if !resp.Store {
		return
	}
	log := func(msg string, attrs ...slog.Attr) {
		resp.Store = false
		h.log.LogAttrs(ctx, slog.LevelWarn, msg, append(attrs,
			slog.String("request_id", reqctx.RequestID(ctx)), slog.String("response_id", resp.ID))...)
	}
	items, err := marshal(t.p.items)
	if err != nil {
		log("responses: not stored: encoding failed", slog.Any("error", err))
		return
	}
	body, err := marshal(resp)
	if err != nil {
		log("responses: not stored: encoding failed", slog.Any("error", err))
		return
	}
	if size := len(items) + len(body); size > h.opts.MaxStoredBytes {
		log("responses: not stored: too large", slog.Int("bytes", size), slog.Int("limit", h.opts.MaxStoredBytes))
		return
	}
	err = h.st.PutResponse(context.WithoutCancel(ctx), store.StoredResponse{ID: resp.ID, Owner: reqctx.KeyID(ctx),
		Response: body, InputItems: items, CreatedAt: t.created})
	if err != nil {
		log("responses: not stored: store failed", slog.Any("error", err))
	}
}
