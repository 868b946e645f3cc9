package archtest

import (
	"bufio"
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The import rule is written once, as the fenced ```imports block of
// ARCHITECTURE.md, and this file checks the code against it: the document
// and the check cannot drift apart.
//
// Block syntax, one statement per line ('#' starts a comment):
//
//	group NAME = MEMBER...     MEMBER is a module-relative package path, or
//	                           PATH/... for PATH and every package below it;
//	                           a package belongs to the group of its most
//	                           specific member.
//	NAME -> NAME... | none     the groups NAME's non-test code may import.
//	                           A group may import its own members only when
//	                           it lists itself.
//	test NAME -> TOKEN...      what NAME's _test.go files may import besides
//	test * -> TOKEN...         what its non-test code may ("*" is the default
//	                           of every group without its own test line);
//	                           TOKEN is a group, "*" (every group) or !NAME
//	                           (not that group). A test may always import its
//	                           own package.
//
// Besides the table: only the testing group's non-test code imports the
// standard library's package testing.

// archDoc is the document holding the import table, relative to the module
// root.
const archDoc = "ARCHITECTURE.md"

// member is one entry of a group: a package path, or a path prefix.
type member struct {
	path string
	tree bool // path/...: path and every package below it
}

// String writes m as in the table.
func (m member) String() string {
	if m.tree {
		return m.path + "/..."
	}
	return m.path
}

// matches reports whether the package at path p belongs to m, and how
// specific the match is (longer is more specific; exact beats tree).
func (m member) matches(p string) (int, bool) {
	switch {
	case p == m.path && !m.tree:
		return 2*len(m.path) + 1, true
	case m.tree && (p == m.path || strings.HasPrefix(p, m.path+"/")):
		return 2 * len(m.path), true
	}
	return 0, false
}

// importRules is the parsed import table.
type importRules struct {
	order   []string            // group names, as defined
	members map[string][]member // by group
	prod    map[string]map[string]bool
	test    map[string][]string // raw tokens by group, "*" for the default
}

// parseImportRules reads the ```imports block of doc.
func parseImportRules(doc string) (*importRules, error) {
	r := &importRules{members: map[string][]member{}, prod: map[string]map[string]bool{}, test: map[string][]string{}}
	in, found := false, false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && line == "```imports":
			in, found = true, true
			continue
		case !in:
			continue
		case line == "```":
			in = false
			continue
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if err := r.statement(line); err != nil {
			return nil, fmt.Errorf("%s line %d: %w: %q", archDoc, n, err, line)
		}
	}
	if !found || in {
		return nil, fmt.Errorf("%s: no complete ```imports block", archDoc)
	}
	return r, r.complete()
}

// statement parses one line of the block.
func (r *importRules) statement(line string) error {
	if rest, ok := strings.CutPrefix(line, "group "); ok {
		name, list, ok := strings.Cut(rest, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return errors.New("want: group NAME = MEMBER...")
		}
		if _, dup := r.members[name]; dup {
			return fmt.Errorf("group %s defined twice", name)
		}
		var ms []member
		for _, f := range strings.Fields(list) {
			p, tree := strings.CutSuffix(f, "/...")
			ms = append(ms, member{path: p, tree: tree})
		}
		if len(ms) == 0 {
			return fmt.Errorf("group %s has no member", name)
		}
		r.order = append(r.order, name)
		r.members[name] = ms
		return nil
	}
	lhs, rhs, ok := strings.Cut(line, "->")
	if !ok {
		return errors.New("want: group NAME = ..., NAME -> ... or test NAME -> ...")
	}
	from := strings.Fields(lhs)
	to := strings.Fields(rhs)
	switch {
	case len(from) == 1:
		if _, dup := r.prod[from[0]]; dup {
			return fmt.Errorf("two lines for %s", from[0])
		}
		allowed := map[string]bool{}
		if !(len(to) == 1 && to[0] == "none") {
			for _, g := range to {
				allowed[g] = true
			}
		}
		if len(to) == 0 {
			return errors.New(`list the groups, or "none"`)
		}
		r.prod[from[0]] = allowed
	case len(from) == 2 && from[0] == "test":
		if _, dup := r.test[from[1]]; dup {
			return fmt.Errorf("two test lines for %s", from[1])
		}
		r.test[from[1]] = to
	default:
		return errors.New("want: NAME -> ... or test NAME -> ...")
	}
	return nil
}

// complete checks that every group has a production line and that every
// line names defined groups.
func (r *importRules) complete() error {
	known := func(g string) bool { _, ok := r.members[g]; return ok }
	for _, g := range r.order {
		if _, ok := r.prod[g]; !ok {
			return fmt.Errorf("%s: group %s has no line saying what it may import (NAME -> ... or NAME -> none)", archDoc, g)
		}
	}
	for from, to := range r.prod {
		if !known(from) {
			return fmt.Errorf("%s: %s -> ...: no such group", archDoc, from)
		}
		for g := range to {
			if !known(g) {
				return fmt.Errorf("%s: %s -> %s: no such group", archDoc, from, g)
			}
		}
	}
	for from, toks := range r.test {
		if from != "*" && !known(from) {
			return fmt.Errorf("%s: test %s -> ...: no such group", archDoc, from)
		}
		for _, t := range toks {
			if g := strings.TrimPrefix(t, "!"); g != "*" && !known(g) {
				return fmt.Errorf("%s: test %s -> %s: no such group", archDoc, from, t)
			}
		}
	}
	return nil
}

// groupOf returns the group of package p ("" when none has it).
func (r *importRules) groupOf(p string) string {
	best, bestScore := "", -1
	for _, g := range r.order {
		for _, m := range r.members[g] {
			if s, ok := m.matches(p); ok && s > bestScore {
				best, bestScore = g, s
			}
		}
	}
	return best
}

// testAllowed returns the groups g's tests may import: what its non-test
// code may, and what its test line (or the default one) adds.
func (r *importRules) testAllowed(g string) map[string]bool {
	extra := map[string]bool{}
	toks, ok := r.test[g]
	if !ok {
		toks = r.test["*"]
	}
	for _, t := range toks {
		switch {
		case t == "*":
			for _, k := range r.order {
				extra[k] = true
			}
		case strings.HasPrefix(t, "!"):
			delete(extra, t[1:])
		default:
			extra[t] = true
		}
	}
	for k := range r.prod[g] {
		extra[k] = true
	}
	return extra
}

// pkgImports is what one package imports of the module (paths relative to
// the module), in its non-test and its test files.
type pkgImports struct {
	path       string
	prod, test []string
	// stdTesting is set when the non-test files import package testing.
	stdTesting bool
}

// check returns one message per import the rules forbid, per package in
// no group, and per group member that matches no package.
func (r *importRules) check(pkgs []pkgImports) []string {
	var bad []string
	used := map[member]bool{}
	for _, p := range pkgs {
		for _, g := range r.order {
			for _, m := range r.members[g] {
				if _, ok := m.matches(p.path); ok {
					used[m] = true
				}
			}
		}
		from := r.groupOf(p.path)
		if from == "" {
			bad = append(bad, fmt.Sprintf("%s is in no group of the import table in %s: add it to the group of its layer", p.path, archDoc))
			continue
		}
		if p.stdTesting && from != "testing" {
			bad = append(bad, fmt.Sprintf("%s imports package testing in non-test code: only the testing group (%s) may", p.path, r.list("testing")))
		}
		bad = append(bad, r.checkEdges(p.path, from, p.prod, r.prod[from], "non-test code")...)
		bad = append(bad, r.checkEdges(p.path, from, p.test, r.testAllowed(from), "tests")...)
	}
	for _, g := range r.order {
		for _, m := range r.members[g] {
			if !used[m] {
				bad = append(bad, fmt.Sprintf("%s: group %s lists %s, which matches no package", archDoc, g, m))
			}
		}
	}
	return bad
}

// checkEdges checks the imports of package p (group from) against allowed.
func (r *importRules) checkEdges(p, from string, imports []string, allowed map[string]bool, what string) []string {
	var bad []string
	for _, imp := range imports {
		if imp == p && what == "tests" {
			continue // an external test imports its own package
		}
		to := r.groupOf(imp)
		if to == "" {
			continue // reported as a package in no group
		}
		if allowed[to] {
			continue
		}
		var may []string
		for _, g := range r.order {
			if allowed[g] {
				may = append(may, g)
			}
		}
		bad = append(bad, fmt.Sprintf("%s (group %s) imports %s (group %s) in %s; %s may import: %s (%s)",
			p, from, imp, to, what, from, orNone(may), archDoc))
	}
	return bad
}

// list returns the members of group g, for messages.
func (r *importRules) list(g string) string {
	var s []string
	for _, m := range r.members[g] {
		s = append(s, m.String())
	}
	return strings.Join(s, " ")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing of spark"
	}
	return strings.Join(s, ", ")
}

// loadImports lists every package of the module under root with its
// imports of the module (go/build, as for the current platform).
func loadImports(t *testing.T, root string) []pkgImports {
	t.Helper()
	mod := modulePath(t, root)
	var out []pkgImports
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" || name == "vendor") {
			return filepath.SkipDir
		}
		bp, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := errors.AsType[*build.NoGoError](err); ok {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		p := pkgImports{path: filepath.ToSlash(rel), stdTesting: slices.Contains(bp.Imports, "testing")}
		p.prod = ofModule(mod, bp.Imports)
		p.test = ofModule(mod, append(slices.Clone(bp.TestImports), bp.XTestImports...))
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ofModule returns the imports of module mod, relative to it, sorted and
// without duplicates.
func ofModule(mod string, imports []string) []string {
	var out []string
	for _, imp := range imports {
		if rel, ok := strings.CutPrefix(imp, mod+"/"); ok {
			out = append(out, rel)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// modulePath reads the module path from root's go.mod.
func modulePath(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(p), `"`)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// TestImportDirection checks every package's imports, non-test and test
// separately, against the import table of ARCHITECTURE.md: the one
// direction of imports that document states.
func TestImportDirection(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, archDoc))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseImportRules(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := loadImports(t, root)
	if len(pkgs) < 40 {
		t.Fatalf("found %d packages under %s: the walk is not covering the module", len(pkgs), root)
	}
	edges := 0
	for _, p := range pkgs {
		edges += len(p.prod)
	}
	if edges < 100 {
		t.Fatalf("found %d imports between the module's packages: go/build is not reading the imports", edges)
	}
	for _, msg := range rules.check(pkgs) {
		t.Error(msg)
	}
}

// TestImportCheckCatchesForbiddenEdges shows that the check fails on what
// it is meant to catch, with the real table and made-up packages.
func TestImportCheckCatchesForbiddenEdges(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(moduleRoot(t), archDoc))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseImportRules(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pkg     pkgImports
		wantBad []string // substrings, one per expected message
	}{
		{"gateway imports a front-end",
			pkgImports{path: "internal/gateway", prod: []string{"internal/api/openai", "internal/llm"}},
			[]string{"internal/gateway (group gateway) imports internal/api/openai (group frontends) in non-test code"}},
		{"a front-end imports another",
			pkgImports{path: "internal/api/media", prod: []string{"internal/api/openai"}},
			[]string{"imports internal/api/openai (group frontends)"}},
		{"a front-end imports the gateway",
			pkgImports{path: "internal/api/media", prod: []string{"internal/gateway"}},
			[]string{"(group gateway)"}},
		{"a simulator imports the adapter it fakes",
			pkgImports{path: "internal/simulator/geminisim", prod: []string{"internal/provider/geminiweb"}},
			[]string{"internal/simulator/geminisim (group simulators) imports internal/provider/geminiweb (group providers)"}},
		{"a simulator's test imports the adapter it fakes",
			pkgImports{path: "internal/simulator/gensparksim", test: []string{"internal/provider/genspark"}},
			[]string{"in tests"}},
		{"a provider imports another",
			pkgImports{path: "internal/provider/genspark", prod: []string{"internal/provider/geminiweb"}},
			[]string{"(group providers) imports internal/provider/geminiweb (group providers)"}},
		{"production imports a test double",
			pkgImports{path: "internal/pool", prod: []string{"internal/testutil"}},
			[]string{"(group testing)"}},
		{"production imports package testing",
			pkgImports{path: "internal/pool", stdTesting: true},
			[]string{"imports package testing in non-test code"}},
		{"a leaf imports something",
			pkgImports{path: "internal/llm", prod: []string{"internal/gw"}},
			[]string{"internal/llm (group foundation) imports internal/gw (group foundation)"}},
		{"a test imports the app",
			pkgImports{path: "internal/server", test: []string{"internal/app"}},
			[]string{"imports internal/app (group app) in tests"}},
		{"a package in no group",
			pkgImports{path: "internal/newthing"},
			[]string{"internal/newthing is in no group"}},
		{"allowed: front-end to wire and foundation, its test to a simulator",
			pkgImports{path: "internal/api/openai", prod: []string{"internal/api/wire", "internal/llm", "internal/sse"},
				test: []string{"internal/api/apitest", "internal/api/openai", "internal/simulator"}},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bad []string
			for _, msg := range rules.check([]pkgImports{tt.pkg}) {
				if !strings.Contains(msg, "matches no package") { // one made-up package cannot use every member
					bad = append(bad, msg)
				}
			}
			if len(bad) != len(tt.wantBad) {
				t.Fatalf("check = %q, want %d problems", bad, len(tt.wantBad))
			}
			for i, want := range tt.wantBad {
				if !strings.Contains(bad[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, bad[i], want)
				}
			}
		})
	}
}

// TestImportTableParsing: malformed tables are refused with the line.
func TestImportTableParsing(t *testing.T) {
	for name, block := range map[string]string{
		"group without a line": "group a = x\n",
		"unknown group":        "group a = x\na -> b\n",
		"unknown test group":   "group a = x\na -> none\ntest b -> a\n",
		"defined twice":        "group a = x\ngroup a = y\na -> none\n",
		"no arrow":             "group a = x\na none\n",
		"empty edge list":      "group a = x\na ->\n",
	} {
		if _, err := parseImportRules("```imports\n" + block + "```\n"); err == nil {
			t.Errorf("%s: parsed %q without error", name, block)
		}
	}
	if _, err := parseImportRules("no block here\n"); err == nil {
		t.Error("a document without the block parsed")
	}
	r, err := parseImportRules("```imports\ngroup a = x/...\ngroup b = x/y\na -> none\nb -> a\ntest * -> * !b\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	if g := r.groupOf("x/y"); g != "b" {
		t.Errorf("groupOf(x/y) = %q, want b (the exact member beats x/...)", g)
	}
	if g := r.groupOf("x/z/w"); g != "a" {
		t.Errorf("groupOf(x/z/w) = %q, want a", g)
	}
	if got := r.testAllowed("b"); !got["a"] || got["b"] {
		t.Errorf("testAllowed(b) = %v, want a and not b", got)
	}
	// A member that matches no package is a stale table.
	bad := r.check([]pkgImports{{path: "x/z"}})
	if len(bad) != 1 || !strings.Contains(bad[0], "group b lists x/y, which matches no package") {
		t.Errorf("check with x/y gone = %q, want the stale member reported", bad)
	}
}
