package wire

import (
	"context"
	"errors"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// Files gives the chat front-ends the files clients uploaded through the
// Files API (POST /v1/files), so that a message may name one by id: a chat
// "file" part's file.file_id, a Responses input_file or input_image
// file_id, an Anthropic image or document block with a "file" source (and
// a Gemini fileData part). The files front-end (internal/api/files)
// provides it; a front-end without one refuses file ids with a 400.
type Files interface {
	// Open returns the content of owner's file id as inline media: its
	// bytes (Data), media type (MIMEType) and file name (Name). The error
	// wraps ErrNoSuchFile when owner has no such file (none by that id,
	// another owner's, expired or deleted: the caller cannot tell them
	// apart), and ErrFileTooLarge, before any content is read, when the
	// file is larger than max bytes; any other error is the store's.
	Open(ctx context.Context, owner, id string, max int64) (*llm.Media, error)
}

// Errors of Files.Open.
var (
	ErrNoSuchFile   = errors.New("no such file")
	ErrFileTooLarge = errors.New("file too large")
)

// Bounds on the files one request names by id: at most MaxFileRefs
// distinct ids, each of at most MaxInlineMediaBytes (what a request could
// carry inline), and ids of at most MaxFileIDBytes.
const (
	MaxFileRefs    = 10
	MaxFileIDBytes = 128
)

// Wording makes a 400 about a request parameter in a front-end's style:
// Invalid (OpenAI) or InvalidField (Anthropic).
type Wording func(param, format string, args ...any) *gw.Error

// FileResolver resolves the file ids of one request, for the request's
// owner (reqctx.Owner). A nil *FileResolver refuses every id.
type FileResolver struct {
	ctx   context.Context
	files Files
	owner string
	word  Wording
	got   map[string]*llm.Media
}

// NewFileResolver returns the resolver of the request whose context is
// ctx; files may be nil (file ids are then refused); word words its 400s.
func NewFileResolver(ctx context.Context, files Files, word Wording) *FileResolver {
	return &FileResolver{ctx: ctx, files: files, owner: reqctx.Owner(ctx), word: word, got: map[string]*llm.Media{}}
}

// Enabled reports whether file ids can be resolved (a Files API is
// configured); a front-end words its own refusal otherwise.
func (r *FileResolver) Enabled() bool { return r != nil && r.files != nil }

// Media returns the file id, named by the request at param, as inline
// media (a copy the caller may change; the bytes are shared by the parts
// naming the same id). Failures are 400s about param: file ids refused
// (no Files API), an id the owner has no file by, a file over
// MaxInlineMediaBytes, more than MaxFileRefs ids; a store failure is
// returned as it is.
func (r *FileResolver) Media(id, param string) (*llm.Media, error) {
	if r == nil || r.files == nil {
		word := Wording(Invalid)
		if r != nil {
			word = r.word
		}
		return nil, word(param, "File ids are not supported by this gateway (its Files API is off); send the file inline.")
	}
	if id == "" {
		return nil, r.word(param, "Missing required parameter: '%s'.", param)
	}
	if len(id) > MaxFileIDBytes {
		return nil, r.word(param, "Invalid file id in '%s': at most %d bytes.", param, MaxFileIDBytes)
	}
	m, ok := r.got[id]
	if !ok {
		if len(r.got) >= MaxFileRefs {
			return nil, r.word(param, "Too many files named by id: at most %d per request.", MaxFileRefs)
		}
		var err error
		m, err = r.files.Open(r.ctx, r.owner, id, MaxInlineMediaBytes)
		switch {
		case errors.Is(err, ErrNoSuchFile):
			e := r.word(param, "No such File object: '%s'.", id)
			e.Cause = err
			return nil, e
		case errors.Is(err, ErrFileTooLarge):
			e := r.word(param, "The file '%s' is too large to use in a message: at most %d MB.", id, MaxInlineMediaBytes>>20)
			e.Cause = err
			return nil, e
		case err != nil && r.ctx.Err() != nil:
			return nil, err
		case err != nil:
			return nil, gw.Wrap(gw.CodeInternal, err, "could not read a file named in the request")
		}
		r.got[id] = m
	}
	c := *m
	return &c, nil
}
