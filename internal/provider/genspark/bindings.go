package genspark

import (
	"container/list"
	"context"
	"sync"
)

// BindingKey scopes an automatic model→chat binding. A binding belongs to
// one account and one client key: two API keys using the same account and
// model never share an upstream conversation.
type BindingKey struct {
	AccountID string // gw.Account.ID
	Model     string // client model name without the -search suffix
	ClientKey string // llm.Request.ClientKey (a key id, never the secret)
}

// Bindings stores automatic bindings (AUTO_MODEL_CHAT_MAP_TYPE=1).
// Implementations must be safe for concurrent use; a failing store only
// degrades to new upstream chats.
type Bindings interface {
	// Get returns the chat bound to key; ok is false when there is none.
	Get(ctx context.Context, key BindingKey) (chatID string, ok bool, err error)
	// Set binds key to chatID, replacing any previous binding.
	Set(ctx context.Context, key BindingKey, chatID string) error
	// Delete removes key's binding; deleting a missing binding is not an
	// error.
	Delete(ctx context.Context, key BindingKey) error
}

// MemoryBindings is a Bindings kept in process memory, bounded by evicting
// the least recently used binding. Bindings are lost on restart.
type MemoryBindings struct {
	mu    sync.Mutex
	limit int
	order *list.List // of *binding, most recently used first
	byKey map[BindingKey]*list.Element
}

type binding struct {
	key    BindingKey
	chatID string
}

var _ Bindings = (*MemoryBindings)(nil)

// NewMemoryBindings returns an in-memory store holding at most limit
// bindings (DefaultBindingsLimit when limit <= 0).
func NewMemoryBindings(limit int) *MemoryBindings {
	if limit <= 0 {
		limit = DefaultBindingsLimit
	}
	return &MemoryBindings{limit: limit, order: list.New(), byKey: map[BindingKey]*list.Element{}}
}

// Get implements Bindings.
func (m *MemoryBindings) Get(_ context.Context, key BindingKey) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byKey[key]
	if !ok {
		return "", false, nil
	}
	m.order.MoveToFront(el)
	return el.Value.(*binding).chatID, true, nil
}

// Set implements Bindings.
func (m *MemoryBindings) Set(_ context.Context, key BindingKey, chatID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byKey[key]; ok {
		el.Value.(*binding).chatID = chatID
		m.order.MoveToFront(el)
		return nil
	}
	m.byKey[key] = m.order.PushFront(&binding{key: key, chatID: chatID})
	for m.order.Len() > m.limit {
		old := m.order.Back()
		m.order.Remove(old)
		delete(m.byKey, old.Value.(*binding).key)
	}
	return nil
}

// Delete implements Bindings.
func (m *MemoryBindings) Delete(_ context.Context, key BindingKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byKey[key]; ok {
		m.order.Remove(el)
		delete(m.byKey, key)
	}
	return nil
}

// Len returns the number of bindings held.
func (m *MemoryBindings) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}
