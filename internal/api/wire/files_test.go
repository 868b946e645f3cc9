package wire_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// fakeFiles holds files by owner and id, and counts opens.
type fakeFiles struct {
	files map[string]*llm.Media // "owner/id"
	opens int
	err   error
}

func (f *fakeFiles) Open(_ context.Context, owner, id string, max int64) (*llm.Media, error) {
	f.opens++
	if f.err != nil {
		return nil, f.err
	}
	m, ok := f.files[owner+"/"+id]
	if !ok {
		return nil, fmt.Errorf("fake: %w", wire.ErrNoSuchFile)
	}
	if int64(len(m.Data)) > max {
		return nil, fmt.Errorf("fake: %w", wire.ErrFileTooLarge)
	}
	c := *m
	return &c, nil
}

func TestFileResolver(t *testing.T) {
	ctx := reqctx.WithKeyID(context.Background(), "key_a")
	files := &fakeFiles{files: map[string]*llm.Media{
		"key_a/file-1": {MIMEType: "text/plain", Name: "a.txt", Data: []byte("hello")},
		"key_b/file-2": {MIMEType: "text/plain", Name: "b.txt", Data: []byte("theirs")},
	}}
	r := wire.NewFileResolver(ctx, files, wire.Invalid)
	if !r.Enabled() {
		t.Fatal("a resolver with files is not enabled")
	}
	m, err := r.Media("file-1", "p")
	if err != nil || string(m.Data) != "hello" || m.Name != "a.txt" || m.MIMEType != "text/plain" {
		t.Fatalf("Media = %+v, %v", m, err)
	}
	m.Name = "changed"
	if m2, _ := r.Media("file-1", "q"); m2.Name != "a.txt" || files.opens != 1 {
		t.Fatalf("a second use of the id: %+v after %d opens (want one open, an unchanged copy)", m2, files.opens)
	}

	for _, tc := range []struct {
		name, id string
		wantMsg  string
	}{
		{"another owner's", "file-2", "No such File object"},
		{"unknown", "file-9", "No such File object"},
		{"empty", "", "Missing required parameter"},
		{"too long", string(make([]byte, wire.MaxFileIDBytes+1)), "at most"},
	} {
		_, err := r.Media(tc.id, "messages[0].content[1].file.file_id")
		var ge *gw.Error
		if !errors.As(err, &ge) || gw.HTTPStatus(ge.Code) != http.StatusBadRequest || ge.Param != "messages[0].content[1].file.file_id" {
			t.Errorf("%s: %v, want a 400 naming the param", tc.name, err)
		}
	}

	// Anthropic wording puts the field first; a nil resolver or one
	// without files refuses.
	_, err = wire.NewFileResolver(ctx, files, wire.InvalidField).Media("file-9", "messages.0.content.0.source.file_id")
	if err == nil || err.Error() == "" || !errors.Is(err, wire.ErrNoSuchFile) {
		t.Fatalf("anthropic wording: %v", err)
	}
	var nilResolver *wire.FileResolver
	for _, off := range []*wire.FileResolver{nilResolver, wire.NewFileResolver(ctx, nil, wire.Invalid)} {
		if off.Enabled() {
			t.Fatal("a resolver without files is enabled")
		}
		if _, err := off.Media("file-1", "p"); gw.HTTPStatus(gw.ErrorCode(err)) != http.StatusBadRequest {
			t.Fatalf("without files: %v", err)
		}
	}

	// A store failure is a 500, not the client's fault.
	broken := wire.NewFileResolver(ctx, &fakeFiles{err: errors.New("disk on fire")}, wire.Invalid)
	if _, err := broken.Media("file-1", "p"); gw.ErrorCode(err) != gw.CodeInternal {
		t.Fatalf("store failure: %v", err)
	}
}

func TestFileResolverBounds(t *testing.T) {
	ctx := context.Background()
	files := &fakeFiles{files: map[string]*llm.Media{
		"/big": {Data: make([]byte, wire.MaxInlineMediaBytes+1)},
	}}
	for i := range wire.MaxFileRefs + 1 {
		files.files[fmt.Sprintf("/f%d", i)] = &llm.Media{Data: []byte("x")}
	}
	r := wire.NewFileResolver(ctx, files, wire.Invalid)
	if _, err := r.Media("big", "p"); !errors.Is(err, wire.ErrFileTooLarge) || gw.ErrorCode(err) != gw.CodeInvalidRequest {
		t.Fatalf("a file over the inline bound: %v", err)
	}
	r = wire.NewFileResolver(ctx, files, wire.Invalid)
	for i := range wire.MaxFileRefs {
		if _, err := r.Media(fmt.Sprintf("f%d", i), "p"); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	if _, err := r.Media("f0", "p"); err != nil {
		t.Fatalf("an id named again does not count twice: %v", err)
	}
	if _, err := r.Media(fmt.Sprintf("f%d", wire.MaxFileRefs), "p"); gw.ErrorCode(err) != gw.CodeInvalidRequest {
		t.Fatalf("one id too many: %v", err)
	}
}
