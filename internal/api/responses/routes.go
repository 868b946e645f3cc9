package responses

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/sse"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/tokens"
)

// get serves GET /v1/responses/{id}: the stored response, or with
// ?stream=true its event stream replayed (from ?starting_after=N on).
func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	sr, err := h.load(r.Context(), id)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	stream, _ := strconv.ParseBool(q.Get("stream"))
	after := -1
	if s := q.Get("starting_after"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -1 {
			return wire.Invalid("starting_after", "Invalid 'starting_after': expected an integer >= 0.")
		}
		after = n
	}
	// openai-node puts stream in the query; openai-go sends it (and any
	// query params it was given) as a JSON body on this GET.
	if r.ContentLength != 0 && r.Body != nil {
		var body struct {
			Stream        bool `json:"stream"`
			StartingAfter *int `json:"starting_after"`
		}
		if json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body) == nil {
			stream = stream || body.Stream
			if body.StartingAfter != nil && after < 0 {
				after = *body.StartingAfter
			}
		}
	}
	if stream {
		return h.replay(w, r, sr, after)
	}
	writeRawJSON(w, http.StatusOK, sr.Response)
	return nil
}

// delete serves DELETE /v1/responses/{id}.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if h.st == nil {
		return notFound(id)
	}
	err := h.st.DeleteResponse(r.Context(), reqctx.KeyID(r.Context()), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	}
	if err != nil {
		return gw.Wrap(gw.CodeInternal, err, "could not delete the stored response")
	}
	writeJSON(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Deleted bool   `json:"deleted"`
	}{id, "response", true})
	return nil
}

// itemList is the cursor page of GET /v1/responses/{id}/input_items.
type itemList struct {
	Object  string            `json:"object"`
	Data    []json.RawMessage `json:"data"`
	FirstID *string           `json:"first_id"`
	LastID  *string           `json:"last_id"`
	HasMore bool              `json:"has_more"`
}

// inputItems serves GET /v1/responses/{id}/input_items?limit=&order=&after=:
// the response's input items (inherited ones included), newest first by
// default as at OpenAI, paged by item id.
func (h *Handler) inputItems(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return wire.Invalid("limit", "Invalid 'limit': expected an integer between 1 and 100.")
		}
		limit = n
	}
	order := q.Get("order")
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		return wire.Invalid("order", "Invalid value for 'order': '%s'. Supported values are: 'asc' and 'desc'.", order)
	}
	sr, err := h.load(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var raws []json.RawMessage
	if len(sr.InputItems) > 0 {
		if err := json.Unmarshal(sr.InputItems, &raws); err != nil {
			return gw.Wrap(gw.CodeInternal, err, "the stored response is unreadable")
		}
	}
	ids := make([]string, len(raws))
	for i, raw := range raws {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &v)
		ids[i] = v.ID
	}
	if order == "desc" {
		for i, j := 0, len(raws)-1; i < j; i, j = i+1, j-1 {
			raws[i], raws[j] = raws[j], raws[i]
			ids[i], ids[j] = ids[j], ids[i]
		}
	}
	start := 0
	if after := q.Get("after"); after != "" {
		start = len(raws)
		for i, id := range ids {
			if id == after {
				start = i + 1
				break
			}
		}
	}
	end := min(start+limit, len(raws))
	page := itemList{Object: "list", Data: raws[start:end], HasMore: end < len(raws)}
	if page.Data == nil {
		page.Data = []json.RawMessage{}
	}
	if start < end {
		page.FirstID, page.LastID = &ids[start], &ids[end-1]
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// inputTokens serves POST /v1/responses/input_tokens: the estimated
// prompt size of a create request (instructions, input, inherited
// conversation and tools), counted with package tokens.
func (h *Handler) inputTokens(w http.ResponseWriter, r *http.Request) error {
	cr, err := h.decodeRequest(w, r)
	if err != nil {
		return err
	}
	if err := cr.validate(true); err != nil {
		return err
	}
	p, err := h.buildRequest(r.Context(), cr, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Object      string `json:"object"`
		InputTokens int    `json:"input_tokens"`
	}{"response.input_tokens", tokens.Prompt(&p.req)})
	return nil
}

// cancel serves POST /v1/responses/{id}/cancel. spark has no background
// mode: every response is complete when it is returned, so there is never
// anything to cancel (404 for unknown ids, 400 otherwise).
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := h.load(r.Context(), id); err != nil {
		return err
	}
	return wire.Invalid("", "Cannot cancel response '%s': only background responses that are still running can be cancelled, and this gateway completes every response before returning it.", id)
}

// compact serves POST /v1/responses/compact, which spark does not offer.
func (h *Handler) compact(w http.ResponseWriter, r *http.Request) error {
	return gw.Errorf(gw.CodeNotFound, "POST /v1/responses/compact is not supported by this gateway; compact the conversation on the client side.")
}

// replay writes a stored response as the event stream that produced it:
// response.created and response.in_progress (the response in progress,
// with no output), each output item with its text or arguments in one
// delta, and the terminal event with the stored response. Events numbered
// up to after are skipped.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, sr store.StoredResponse, after int) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(sr.Response, &obj); err != nil {
		return gw.Wrap(gw.CodeInternal, err, "the stored response is unreadable")
	}
	var (
		raws   []json.RawMessage
		status string
	)
	_ = json.Unmarshal(obj["output"], &raws)
	_ = json.Unmarshal(obj["status"], &status)
	items := make([]Item, 0, len(raws))
	for _, raw := range raws {
		it, err := parseItem(raw, "output")
		if err != nil {
			return gw.Wrap(gw.CodeInternal, err, "the stored response is unreadable")
		}
		items = append(items, it)
	}
	snap := make(map[string]json.RawMessage, len(obj))
	for k, v := range obj {
		snap[k] = v
	}
	for k, v := range map[string]string{"status": `"in_progress"`, "output": "[]", "usage": "null",
		"completed_at": "null", "error": "null", "incomplete_details": "null"} {
		snap[k] = json.RawMessage(v)
	}

	t := &streamer{h: h, p: &params{}, resp: &responseObject{Output: []*Item{}}, sw: sse.NewWriter(w), skip: after + 1}
	err := t.replayItems(snap, items)
	if err == nil {
		name := "response.completed"
		switch status {
		case "incomplete", "failed":
			name = "response." + status
		}
		err = t.sendResponse(name, json.RawMessage(sr.Response))
	}
	if err != nil {
		t.logGone(r, err)
	}
	return nil
}

// replayItems writes the lifecycle start and the events of items.
func (t *streamer) replayItems(snap map[string]json.RawMessage, items []Item) error {
	if err := t.sendResponse("response.created", snap); err != nil {
		return err
	}
	if err := t.sendResponse("response.in_progress", snap); err != nil {
		return err
	}
	for i := range items {
		it := &items[i]
		status := it.Status
		if status == "" {
			status = "completed"
		}
		var err error
		switch it.Type {
		case typeMessage:
			var b strings.Builder
			for _, p := range it.Content {
				b.WriteString(p.Text)
			}
			if err = t.openMessage(it.ID); err == nil {
				err = t.text(b.String())
			}
			if err == nil {
				err = t.closeCur(status)
			}
		case typeReasoning:
			var b strings.Builder
			for _, p := range it.Summary {
				b.WriteString(p.Text)
			}
			if err = t.openReasoning(it.ID); err == nil {
				err = t.reasoning(b.String())
			}
			if err == nil {
				err = t.closeCur(status)
			}
		case typeFunctionCall:
			args := it.Arguments
			var c *call
			if c, err = t.openCall(i, it); err == nil && args != "" {
				c.args.WriteString(args)
				err = t.send("response.function_call_arguments.delta", argsDeltaEvent{Type: "response.function_call_arguments.delta",
					ItemID: it.ID, OutputIndex: c.index, Delta: args, SequenceNumber: t.seq})
			}
			if err == nil {
				err = t.closeCalls(status)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
