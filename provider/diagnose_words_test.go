package provider

import (
	"crypto/tls"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestCatalogueSpeaksTheOperatorsLanguage fails when a Summary or Fix
// names a Go identifier: an operator at a command line or on a web page
// reads "the app registration's secret value", never "ClientSecret"; an
// example program adds its own flag or variable name. Product words
// (PowerShell cmdlets and parameters, portal pages, Exchange permission
// names such as SMTP.SendAsApp, OAuth parameters such as client_secret)
// are the operator's and stay.
func TestCatalogueSpeaksTheOperatorsLanguage(t *testing.T) {
	names, packages := moduleIdentifiers(t)
	// The standard library's and x/oauth2's configuration fields, which a
	// fix might otherwise name: RootCAs, ServerName, MinVersion, ClientID.
	for _, v := range []any{tls.Config{}, http.Client{}, http.Transport{}, oauth2.Config{}, oauth2.Token{}} {
		typ := reflect.TypeOf(v)
		for i := 0; i < typ.NumField(); i++ {
			if f := typ.Field(i); f.IsExported() && compound.MatchString(f.Name) {
				names[f.Name] = true
			}
		}
	}
	for _, e := range Catalogue() {
		for field, text := range map[string]string{"Summary": e.Summary, "Fix": e.Fix} {
			if found := goWords(text, names, packages); len(found) > 0 {
				t.Errorf("%s/%s %q %q: %s names Go identifiers %q:\n%s", e.Provider, e.Layer, e.Code, e.Match, field, found, text)
			}
		}
	}
}

// TestGoWordsTellsCodeFromProducts pins the detector itself, so that the
// catalogue test can fail and does not flag what an operator reads.
func TestGoWordsTellsCodeFromProducts(t *testing.T) {
	names := map[string]bool{"ClientSecret": true, "SecretExpiresAt": true, "MaxConns": true}
	packages := map[string]bool{"smtpx": true, "tokenstore": true}
	for _, s := range []string{
		"Put its Value into ClientSecret.",
		"Put its expiry into SecretExpiresAt.",
		"Check Server.Host and the port.",
		"In tests set TLSConfig.RootCAs.",
		"Check Cloud.AuthorityHost.",
		"Cache tokens with auth.NewSource.",
		"Keep tls.Config.MinVersion at tls.VersionTLS12.",
		"Retry once (smtpx does).",
		"Set SenderOptions.MaxConns = 3.",
	} {
		if len(goWords(s, names, packages)) == 0 {
			t.Errorf("goWords(%q) found nothing", s)
		}
	}
	for _, s := range []string{
		"Run Set-TransportConfig -SmtpClientAuthenticationDisabled $false.",
		"Get-CASMailbox -Identity <mailbox> | fl ImapEnabled.",
		"Office 365 Exchange Online → Application permissions → SMTP.SendAsApp, IMAP.AccessAsUser.All.",
		"Request https://outlook.office.com/SMTP.Send and offline_access.",
		"Send client_secret or client_assertion; sign in at https://myaccount.microsoft.com → Password.",
		"Update-MgUser -UserId <upn> -AccountEnabled:$true, or Add-RecipientPermission -AccessRights SendAs.",
		"Check any HTTP proxy in between (HTTPS_PROXY), e.g. the store's key.",
		"Use login.microsoftonline.us and https://oauth2.googleapis.com/token.",
	} {
		if found := goWords(s, names, packages); len(found) > 0 {
			t.Errorf("goWords(%q) = %q, want nothing", s, found)
		}
	}
}

var (
	// qualified is pkg.Name or Type.Name as Go writes them: tls.Config,
	// auth.NewSource, Server.Host, TLSConfig.RootCAs. A name of all
	// capitals before the dot is a protocol's (SMTP.Send, IMAP.AccessAsApp),
	// and so is the rest of its dotted name (IMAP.AccessAsUser.All).
	qualified = regexp.MustCompile(`(?:^|[^.\w])((?:[a-z][a-z0-9]*|[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)\.[A-Z][A-Za-z0-9]*)`)
	// compound is a CamelCase word no prose has: ClientSecret, TenantID,
	// HTTPClient, StartTLS.
	compound = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(?:[a-z][A-Z]|[A-Z]{2}[a-z])`)
	word     = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
)

// englishPackages are package names of this module that are also words an
// operator reads ("Dovecot auth", "mail.google.com").
var englishPackages = map[string]bool{"provider": true, "auth": true, "retry": true, "oauth": true, "google": true, "entra": true, "authorize": true, "main": true, "deps": true, "loopback": true}

// goWords returns the Go identifiers in s: qualified names, the module's
// compound exported names, and its package names that are no English
// words.
func goWords(s string, names, packages map[string]bool) []string {
	var found []string
	for _, m := range qualified.FindAllStringSubmatch(s, -1) {
		found = append(found, m[1])
	}
	for _, w := range word.FindAllString(s, -1) {
		if names[w] || packages[w] && !englishPackages[w] {
			found = append(found, w)
		}
	}
	return found
}

// moduleIdentifiers parses the module's Go files (tests excepted) and
// returns its exported compound names (types, functions, methods, fields,
// constants, variables) and its package names.
func moduleIdentifiers(t *testing.T) (names, packages map[string]bool) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not the parent directory: %v", err)
	}
	names, packages = map[string]bool{}, map[string]bool{}
	add := func(id *ast.Ident) {
		if id != nil && id.IsExported() && compound.MatchString(id.Name) {
			names[id.Name] = true
		}
	}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
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
		packages[f.Name.Name] = true
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
	if err != nil {
		t.Fatal(err)
	}
	if !names["ClientSecret"] || !names["SecretExpiresAt"] || !packages["smtpx"] {
		list := make([]string, 0, len(names))
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		t.Fatalf("the module's identifiers were not all found: %v", list)
	}
	return names, packages
}
