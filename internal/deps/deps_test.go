package deps

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/mailoauth/mailoauth"

// rules lists, for each package of the module, packages it must not
// depend on, directly or not.
var rules = []struct {
	pkg    string
	banned []string
	why    string
}{
	{"smtpx", []string{"github.com/emersion/go-imap/v2", "html/template", "database/sql", module + "/tokenstore", module + "/provider/oauth"},
		"a program that only sends pays for no IMAP, templates, SQL, grant store or token client"},
	{"imapx", []string{"github.com/emersion/go-smtp", "html/template", "database/sql", module + "/tokenstore", module + "/provider/oauth"},
		"a program that only receives pays for no SMTP, templates, SQL, grant store or token client"},
	{"mailgate", []string{"github.com/emersion/go-imap/v2", "github.com/emersion/go-smtp", module + "/imapx", module + "/smtpx",
		module + "/provider/entra", module + "/provider/google", module + "/tokenstore", "database/sql", "html/template"},
		"the mailgate core knows no transport, provider or store: backends, journals and leases plug in through its interfaces"},
	{"provider", []string{"github.com/emersion/go-imap/v2", "github.com/emersion/go-smtp", "html/template", "database/sql", module + "/tokenstore"},
		"the shared types and Diagnose read replies through provider.Reply"},
	{"auth", []string{module + "/provider", module + "/tokenstore"}, "layers point down"},
	{"retry", []string{module + "/auth", module + "/provider", module + "/tokenstore"}, "the bottom layer"},
	{"tokenstore", []string{module + "/auth", module + "/provider", "github.com/emersion/go-smtp", "github.com/emersion/go-imap/v2"}, "layers point down"},
	{"provider/oauth", []string{module + "/tokenstore", "html/template", "github.com/emersion/go-smtp", "github.com/emersion/go-imap/v2"}, "the token client knows no grant store or pages"},
	{"graphx", []string{"github.com/emersion/go-smtp", "github.com/emersion/go-imap/v2", "html/template", "database/sql", module + "/tokenstore", module + "/provider/oauth"},
		"a program that sends through Graph pays for no SMTP, IMAP, templates, SQL, grant store or token client"},
	{"provider/entra", []string{"github.com/emersion/go-smtp", "github.com/emersion/go-imap/v2", module + "/smtpx", module + "/imapx"}, "providers never import a transport"},
	{"provider/google", []string{"github.com/emersion/go-smtp", "github.com/emersion/go-imap/v2", module + "/smtpx", module + "/imapx"}, "providers never import a transport"},
	{"provider/workload", []string{module + "/provider/entra", module + "/provider/google", module + "/provider/oauth", module + "/tokenstore",
		"github.com/emersion/go-smtp", "github.com/emersion/go-imap/v2", "html/template", "database/sql"},
		"a platform's tokens serve entra (and any caller) without pulling in a provider, a grant store or a transport"},
	{"provider/google/iam", []string{"golang.org/x/oauth2/google", "cloud.google.com/go/compute/metadata", module + "/provider/google",
		module + "/provider/oauth", module + "/tokenstore", "github.com/emersion/go-smtp", "github.com/emersion/go-imap/v2"},
		"signJwt takes the caller's credentials as an oauth2.TokenSource, and google imports it"},
}

// transports never import a particular provider.
var providers = []string{module + "/provider/entra", module + "/provider/google"}

func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	set := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		set[l] = true
	}
	return set
}

// touchSources opens every Go file of the module, so that go test's cache,
// which records the files a test reads, reruns this test after any change
// (go list's reads happen in another process and are not recorded).
func touchSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod") {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImportGraph(t *testing.T) {
	touchSources(t)
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			d := deps(t, r.pkg)
			for _, b := range r.banned {
				if d[b] {
					t.Errorf("%s depends on %s (%s)", r.pkg, b, r.why)
				}
			}
			if r.pkg == "smtpx" || r.pkg == "imapx" || r.pkg == "graphx" {
				for _, p := range providers {
					if d[p] {
						t.Errorf("%s depends on %s: transports take a provider.Mailbox, never a provider", r.pkg, p)
					}
				}
			}
		})
	}
}
