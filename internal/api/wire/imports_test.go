package wire_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The chat front-ends import wire for what they share, never one another
// (issue 12, finding 4): each holds only its own wire shapes.
func TestChatFrontEndsDoNotImportEachOther(t *testing.T) {
	const api = "github.com/sparkgw/spark/internal/api/"
	frontEnds := []string{"openai", "responses", "anthropic", "gemini"}
	for _, fe := range frontEnds {
		files, err := filepath.Glob(filepath.Join("..", fe, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", fe, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, other := range frontEnds {
					if path == api+other {
						t.Errorf("%s imports %s", f, path)
					}
				}
			}
		}
	}
}
