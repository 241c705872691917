package main

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// otherTools are the flags of other programs the docs show (kubectl, helm,
// docker, the claude CLI). A flag of ours must never be added here.
var otherTools = map[string]string{
	"all": "kubectl", "all-namespaces": "kubectl", "dry-run": "kubectl", "field-selector": "kubectl",
	"from-file": "kubectl", "from-literal": "kubectl", "namespace": "kubectl/helm",
	"create-namespace": "helm", "set": "helm", "reuse-values": "helm", "strict": "helm lint",
	"platform": "docker", "push": "docker",
	"model": "claude", "output-format": "claude", "allowedTools": "claude", "debug": "claude", "continue": "claude", "for": "kubectl",
}

var docFlag = regexp.MustCompile(`(?:^|[^A-Za-z0-9-])--([A-Za-z][A-Za-z0-9-]*)`)

// docPages are the user-facing pages that mention command-line flags.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(pages) < 5 {
		t.Fatalf("docs not found: %v", err)
	}
	return append(pages, "../../README.md", "../../charts/cascadeflow-operator/README.md",
		"../../charts/cascadeflow-operator/templates/NOTES.txt")
}

func proxyFlags() []string {
	var names []string
	newFlagSet(&options{}, io.Discard).VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// managerFlags reads the manager's flag names from its sources: fs.XxxVar(&v,
// "name", ...) and fs.Xxx("name", ...), plus --kubeconfig that
// controller-runtime's RegisterFlags adds.
func managerFlags(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../manager/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("manager sources: %v", err)
	}
	var names []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, flagNames(f)...)
	}
	if !slices.Contains(names, "leader-elect") || !slices.Contains(names, "proxy-image") {
		t.Fatalf("manager flags %v: the source scan is broken", names)
	}
	return names
}

// flagNames are the names of the flags a file declares on a FlagSet named fs.
func flagNames(f *ast.File) []string {
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == "ctrlconfig" && sel.Sel.Name == "RegisterFlags" {
			names = append(names, "kubeconfig")
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "fs" {
			return true
		}
		arg := 0
		if strings.HasSuffix(sel.Sel.Name, "Var") {
			arg = 1
		}
		if len(call.Args) > arg {
			if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				names = append(names, name)
			}
		}
		return true
	})
	return names
}

// Every --flag the docs mention is a flag of the proxy or the manager (or of
// a tool the docs show), and the README's list of proxy flags is complete.
func TestHardeningDocumentedFlagsExist(t *testing.T) {
	ours := append(proxyFlags(), managerFlags(t)...)
	for _, page := range docPages(t) {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range docFlag.FindAllStringSubmatch(string(b), -1) {
			name := m[1]
			if !slices.Contains(ours, name) && otherTools[name] == "" {
				t.Errorf("%s mentions --%s, which neither the proxy nor the manager has", page, name)
			}
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "Proxy flags:")
	if start < 0 {
		t.Fatal("README has no \"Proxy flags:\" list")
	}
	list := string(readme[start:])
	list = list[:strings.Index(list, "\n\n")]
	for _, name := range proxyFlags() {
		if !strings.Contains(list, "`--"+name) {
			t.Errorf("README's \"Proxy flags:\" list lacks --%s", name)
		}
	}
}
