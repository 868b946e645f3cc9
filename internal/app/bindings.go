package app

import (
	"context"
	"errors"
	"strings"

	"github.com/sparkgw/spark/internal/provider/genspark"
	"github.com/sparkgw/spark/internal/store"
)

// storeBindings persists Genspark conversation bindings in the store, so a
// restart keeps each (account, model, client key) on its upstream chat.
type storeBindings struct{ st store.BindingStore }

func bindingKey(k genspark.BindingKey) string {
	return "genspark\x1f" + k.AccountID + "\x1f" + k.Model + "\x1f" + k.ClientKey
}

func (b storeBindings) Get(ctx context.Context, k genspark.BindingKey) (string, bool, error) {
	v, err := b.st.GetBinding(ctx, bindingKey(k))
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v.Value, strings.TrimSpace(v.Value) != "", nil
}

func (b storeBindings) Set(ctx context.Context, k genspark.BindingKey, chatID string) error {
	_, err := b.st.PutBinding(ctx, store.Binding{Key: bindingKey(k), AccountID: k.AccountID, Value: chatID})
	return err
}

func (b storeBindings) Delete(ctx context.Context, k genspark.BindingKey) error {
	return b.st.DeleteBinding(ctx, bindingKey(k))
}
