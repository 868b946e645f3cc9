// Package archtest holds repository-wide checks that belong to no single
// package.
package archtest

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the module root, relative to this package's directory.
const repoRoot = "../.."

var (
	docRef     = regexp.MustCompile(`docs/([A-Za-z0-9_-]+\.md)`)
	sectionRef = regexp.MustCompile(`§(\d+(?:\.\d+)*)`)
)

// ref is one `§N.M` citation found in a file.
type ref struct {
	where   string // file:line
	doc     string // docs/ file name it cites, "" when the line names none
	section string // N.M
}

// refsInLine returns the § citations of one line. Each cites the docs/ file
// named last before it on the same line, or self when the line names none
// (self is "" for Go files: a Go comment must name its document).
func refsInLine(line, where, self string) []ref {
	docs := docRef.FindAllStringSubmatchIndex(line, -1)
	var out []ref
	for _, m := range sectionRef.FindAllStringSubmatchIndex(line, -1) {
		r := ref{where: where, doc: self, section: line[m[2]:m[3]]}
		for _, d := range docs {
			if d[0] < m[0] {
				r.doc = line[d[2]:d[3]]
			}
		}
		out = append(out, r)
	}
	return out
}

// headings returns the section numbers of a Markdown document: "## 2. X"
// gives "2", "### 2.1 X" gives "2.1".
func headings(text string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.Lines(text) {
		title, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "#")
		if !ok {
			continue
		}
		title = strings.TrimLeft(title, "#")
		fields := strings.Fields(title)
		if len(fields) == 0 {
			continue
		}
		num := strings.TrimSuffix(fields[0], ".")
		if sectionRef.MatchString("§" + num) {
			out[num] = true
		}
	}
	return out
}

// check reports every ref whose document or section does not exist. docs maps
// a docs/ file name to its text.
func check(refs []ref, docs map[string]string) []string {
	var bad []string
	secs := map[string]map[string]bool{}
	for _, r := range refs {
		if r.doc == "" {
			bad = append(bad, fmt.Sprintf("%s: §%s names no document (write docs/FILE.md §%s)", r.where, r.section, r.section))
			continue
		}
		text, ok := docs[r.doc]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: docs/%s does not exist", r.where, r.doc))
			continue
		}
		if secs[r.doc] == nil {
			secs[r.doc] = headings(text)
		}
		if !secs[r.doc][r.section] {
			bad = append(bad, fmt.Sprintf("%s: docs/%s has no section %s", r.where, r.doc, r.section))
		}
	}
	return bad
}

// scan collects the refs of one file.
func scan(t *testing.T, path, self string) []ref {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ref
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), "§") {
			out = append(out, refsInLine(sc.Text(), fmt.Sprintf("%s:%d", path, n), self)...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDocReferences checks that every `docs/X.md §N.M` citation in the
// repository's Go files, and every § citation inside docs/, names an existing
// document and a heading that exists in it: renaming or renumbering a section
// without updating its citations fails here.
func TestDocReferences(t *testing.T) {
	docDir := filepath.Join(repoRoot, "docs")
	entries, err := os.ReadDir(docDir)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") {
			b, err := os.ReadFile(filepath.Join(docDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			docs[e.Name()] = string(b)
		}
	}
	var refs []ref
	for name := range docs {
		refs = append(refs, scan(t, filepath.Join(docDir, name), name)...)
	}
	goFiles := 0
	err = filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") {
			goFiles++
			refs = append(refs, scan(t, path, "")...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if goFiles < 100 || len(refs) < 100 {
		t.Fatalf("scanned %d Go files and found %d citations: the walk is not covering the repository", goFiles, len(refs))
	}
	for _, msg := range check(refs, docs) {
		t.Error(msg)
	}
}

// TestCheckCatchesBrokenReferences shows that the check fails on what it is
// meant to catch.
func TestCheckCatchesBrokenReferences(t *testing.T) {
	// The lines spell § as \u00a7 so that TestDocReferences does not read
	// them as citations of this file.
	docs := map[string]string{"a.md": "# A\n\n## 1. One\n\n### 1.2 Sub\n\n## 2. Two\n"}
	tests := []struct {
		name, line string
		wantBad    int
	}{
		{"existing sections", "// see docs/a.md \u00a71, \u00a71.2 and \u00a72", 0},
		{"renamed section", "// see docs/a.md \u00a71.3", 1},
		{"missing document", "// see docs/b.md \u00a71", 1},
		{"no document named", "// see \u00a71.2", 1},
		{"nearest document wins", "// docs/b.md \u00a71 then docs/a.md \u00a72", 1},
		{"sub-section prefix is not a heading", "// docs/a.md \u00a71.2.1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := check(refsInLine(tt.line, "x.go:1", ""), docs)
			if len(bad) != tt.wantBad {
				t.Errorf("check(%q) = %q, want %d problems", tt.line, bad, tt.wantBad)
			}
		})
	}
}
