package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	// codeSpan is a `...` span of Markdown.
	codeSpan = regexp.MustCompile("`([^`\n]+)`")
	// repoPath is a span naming a file or directory of the repository (a
	// bare NAME.md is one at the root).
	repoPath = regexp.MustCompile(`^(?:internal|cmd|bench|docs|test)(?:/[\w.-]+)*/?$|^[A-Z]+\.md$`)
	// goName is a span naming a Go declaration: pkg.Name, pkg.Type.Member.
	goName = regexp.MustCompile(`^([a-z][a-z0-9]*)\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?$`)
	// fileName is a span naming a file by itself (catalog.json).
	fileName = regexp.MustCompile(`^[\w-]+\.(?:go|json|md|txt|mjs)$`)
	// testName is a span naming a test, benchmark or fuzz target.
	testName = regexp.MustCompile(`^(?:Test|Benchmark|Fuzz)[A-Z]\w*$`)
)

// TestArchitectureNamesExist checks that what ARCHITECTURE.md names in code
// spans exists: repository paths, Go declarations written as pkg.Name or
// pkg.Type.Member (for the module's packages), and test functions. A
// rename that leaves the map pointing at nothing fails here.
func TestArchitectureNamesExist(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, archDoc))
	if err != nil {
		t.Fatal(err)
	}
	decls := moduleDecls(t, root)
	tests := testFuncs(t, root)
	checked := 0
	for n, line := range strings.Split(string(doc), "\n") {
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			span := m[1]
			where := archDoc + ":" + strconv.Itoa(n+1)
			switch {
			case repoPath.MatchString(span):
				checked++
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(span))); err != nil {
					t.Errorf("%s: %s does not exist", where, span)
				}
			case testName.MatchString(span):
				checked++
				if !tests[span] {
					t.Errorf("%s: no test function %s", where, span)
				}
			case goName.MatchString(span) && !fileName.MatchString(span):
				g := goName.FindStringSubmatch(span)
				names, ok := decls[g[1]]
				if !ok {
					continue // not a package of the module (net/http, ...)
				}
				checked++
				name := g[2]
				if g[3] != "" {
					name += "." + g[3]
				}
				if !names[name] {
					t.Errorf("%s: package %s declares no %s", where, g[1], name)
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d names in %s: is the pattern still finding them?", checked, archDoc)
	}
}

// moduleDecls returns, by package name, the names its non-test files
// declare at top level, its methods and struct fields and interface
// methods as Type.Member.
func moduleDecls(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		names := out[f.Name.Name]
		if names == nil {
			names = map[string]bool{}
			out[f.Name.Name] = names
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[d.Name.Name] = true
				} else {
					names[recvType(d.Recv.List[0].Type)+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
						addMembers(names, s.Name.Name, s.Type)
					case *ast.ValueSpec:
						for _, id := range s.Names {
							names[id.Name] = true
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recvType is the type name of a method receiver.
func recvType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// addMembers records the fields of a struct type and the methods of an
// interface type as typ.Name.
func addMembers(names map[string]bool, typ string, e ast.Expr) {
	var fields *ast.FieldList
	switch x := e.(type) {
	case *ast.StructType:
		fields = x.Fields
	case *ast.InterfaceType:
		fields = x.Methods
	default:
		return
	}
	for _, f := range fields.List {
		for _, id := range f.Names {
			names[typ+"."+id.Name] = true
		}
		if len(f.Names) == 0 { // embedded
			if n := recvType(f.Type); n != "" {
				names[typ+"."+n] = true
			}
		}
	}
}

// testFuncs returns the names of the Test, Benchmark and Fuzz functions of
// every _test.go file.
func testFuncs(t *testing.T, root string) map[string]bool {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)\w*)\(`)
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
