package secagg

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPackageDoc: doc.go alone carries the package comment, and it states
// the caller's contract as numbered steps, the formats and the security
// assumptions.
func TestPackageDoc(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		if (af.Doc != nil) != (f == "doc.go") {
			t.Errorf("%s: package comment present = %v; only doc.go has one", f, af.Doc != nil)
		}
	}
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if n := len(regexp.MustCompile(`(?m)^//\s+\d+\. `).FindAllString(doc, -1)); n < 5 {
		t.Errorf("doc.go has %d numbered contract steps", n)
	}
	for _, want := range []string{"# Caller's contract", "# Formats", "# Security", "# What this package does not do yet", "2(t+1) > n + n_C"} {
		if !strings.Contains(doc, want) {
			t.Errorf("doc.go lacks %q", want)
		}
	}
}
