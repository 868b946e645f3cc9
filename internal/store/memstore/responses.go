package memstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// cloneResponse copies r's byte slices, so that callers never share them
// with the store.
func cloneResponse(r store.StoredResponse) store.StoredResponse {
	r.Response = bytes.Clone(r.Response)
	r.InputItems = bytes.Clone(r.InputItems)
	return r
}

// PutResponse implements [store.ResponseStore].
func (s *Store) PutResponse(_ context.Context, r store.StoredResponse) error {
	if r.ID == "" || len(r.Response) == 0 {
		return fmt.Errorf("%w: a stored response needs an id and a body", store.ErrInvalid)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	r.CreatedAt = norm(r.CreatedAt)
	r = cloneResponse(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.resps[r.ID]; ok {
		return conflict("response id")
	}
	s.resps[r.ID] = r
	return nil
}

// GetResponse implements [store.ResponseStore].
func (s *Store) GetResponse(_ context.Context, owner, id string) (store.StoredResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resps[id]
	if !ok || r.Owner != owner {
		return store.StoredResponse{}, notFound("response")
	}
	return cloneResponse(r), nil
}

// DeleteResponse implements [store.ResponseStore].
func (s *Store) DeleteResponse(_ context.Context, owner, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resps[id]
	if !ok || r.Owner != owner {
		return notFound("response")
	}
	delete(s.resps, id)
	return nil
}

// PruneResponses implements [store.ResponseStore].
func (s *Store) PruneResponses(_ context.Context, cutoff time.Time) (int, error) {
	cutoff = norm(cutoff)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.resps {
		if r.CreatedAt.Before(cutoff) {
			delete(s.resps, id)
			n++
		}
	}
	return n, nil
}
