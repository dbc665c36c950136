package gowords

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// englishPackages are package names of this module that are also words an
// operator reads ("Dovecot auth", "mail.google.com"): Module leaves them
// out.
var englishPackages = map[string]bool{"provider": true, "auth": true, "retry": true, "oauth": true, "google": true,
	"entra": true, "authorize": true, "main": true, "deps": true, "workload": true, "iam": true, "fetch": true, "loopback": true}

// Module returns the identifiers of the module around the working
// directory that no operator text should name: its exported compound
// names (types, functions, methods, fields, constants, variables:
// ClientSecret, SecretExpiresAt, NewSource) and its package names that are
// no English words (smtpx, tokenstore). Names that are words too (Host,
// Mailbox) are left out, so Find cannot tell "Server.Host" from prose.
// Test files are not read.
func Module() (map[string]bool, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	add := func(id *ast.Ident) {
		if id != nil && id.IsExported() && compound(id.Name) && strings.ToUpper(id.Name) != id.Name {
			names[id.Name] = true
		}
	}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
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
		if !englishPackages[f.Name.Name] {
			names[f.Name.Name] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				add(n.Name)
			case *ast.TypeSpec:
				add(n.Name)
			case *ast.ValueSpec:
				for _, id := range n.Names {
					add(id)
				}
			case *ast.Field:
				for _, id := range n.Names {
					add(id)
				}
			}
			return true
		})
		return nil
	})
	return names, err
}

// moduleRoot is the nearest directory above the working directory that
// holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("gowords: no go.mod above the working directory")
		}
		dir = parent
	}
}
