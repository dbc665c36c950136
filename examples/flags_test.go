// Package examples_test checks what the example programs have in common,
// by running each as the shell does.
package examples_test

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
)

// helpFlag is a flag as -h shows it.
type helpFlag struct {
	name, kind, usage string // kind: "string", "int", "duration", or "" for a bool
}

// help is what -h tells of a program.
type help struct {
	flags   map[string]helpFlag
	secrets []string // the variables listed as secrets from the environment only
	text    string
}

var (
	flagLine   = regexp.MustCompile(`^  -(\S+)(?: (\S+))?$`)
	secretLine = regexp.MustCompile(`^  \$(MAILOAUTH_[A-Z0-9_]+)$`)
	envRef     = regexp.MustCompile(`\$(MAILOAUTH_[A-Z0-9_]+)`)
	bracketVar = regexp.MustCompile(`\[\$([A-Z0-9_]+)\]`)
)

// readHelp runs bin -h with an empty environment and parses what it
// prints.
func readHelp(t *testing.T, bin string) help {
	t.Helper()
	cmd := exec.Command(bin, "-h")
	cmd.Env = []string{} // nothing from the test's own environment
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -h: %v\n%s", bin, err, out)
	}
	h := help{flags: map[string]helpFlag{}, text: string(out)}
	var cur *helpFlag
	inSecrets := false
	sc := bufio.NewScanner(strings.NewReader(h.text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Secrets come from the environment only"):
			inSecrets = true
			cur = nil
		case inSecrets && secretLine.MatchString(line):
			h.secrets = append(h.secrets, secretLine.FindStringSubmatch(line)[1])
		case !inSecrets && flagLine.MatchString(line):
			m := flagLine.FindStringSubmatch(line)
			h.flags[m[1]] = helpFlag{name: m[1], kind: m[2]}
			f := h.flags[m[1]]
			cur = &f
		case cur != nil && strings.HasPrefix(line, "    \t"):
			cur.usage += strings.TrimPrefix(line, "    \t")
			h.flags[cur.name] = *cur
		}
	}
	return h
}

// appOnly are the programs that can sign in as the app itself at Entra ID.
var appOnly = []string{"doctor", "entra-send", "mailgate", "netsmtp"}

// TestEveryFlagHasItsVariable walks the flags of every example, as its -h
// shows them, and checks the one rule: each flag has exactly the variable
// MAILOAUTH_ + the flag's name in upper case with "-" as "_", and each
// MAILOAUTH_ variable the help names is a flag's or a secret's; a flag
// name used by several programs means the same setting in each (the same
// kind, and the usage starts with the setting's one meaning); every
// program that takes a client secret takes -secret-file and
// -secret-expires, and every app-only program -cert-file.
func TestEveryFlagHasItsVariable(t *testing.T) {
	names := clitest.Programs(t)
	bins := clitest.Build(t, names...)
	helps := map[string]help{}
	for _, name := range names {
		helps[name] = readHelp(t, bins[name])
	}

	allSecrets := map[string]bool{}
	for _, h := range helps {
		for _, s := range h.secrets {
			allSecrets[s] = true
		}
	}
	seen := map[string]helpFlag{} // the first program's flag of each name
	seenIn := map[string]string{}
	for _, name := range names {
		h := helps[name]
		if len(h.flags) == 0 {
			t.Errorf("%s -h lists no flags:\n%s", name, h.text)
			continue
		}
		own := map[string]bool{}
		for _, f := range h.flags {
			want := cli.EnvName(f.name)
			own[want] = true
			vars := bracketVar.FindAllStringSubmatch(f.usage, -1)
			if len(vars) != 1 || vars[0][1] != want {
				t.Errorf("%s -%s: usage %q names %v, want exactly [$%s]", name, f.name, f.usage, vars, want)
			}
			if allSecrets[want] {
				t.Errorf("%s -%s: its variable %s is also a secret's", name, f.name, want)
			}
			if first, ok := seen[f.name]; ok {
				if first.kind != f.kind {
					t.Errorf("-%s is a %q in %s but a %q in %s", f.name, first.kind, seenIn[f.name], f.kind, name)
				}
				what, shared := cli.SharedSetting(f.name)
				if !shared {
					t.Errorf("-%s is taken by %s and %s but has no shared meaning (cli.SharedSetting)", f.name, seenIn[f.name], name)
				}
				for _, p := range []string{seenIn[f.name], name} {
					if u := helps[p].flags[f.name].usage; !strings.HasPrefix(u, what) {
						t.Errorf("%s -%s: usage %q does not start with the setting's meaning %q", p, f.name, u, what)
					}
				}
			} else {
				seen[f.name], seenIn[f.name] = f, name
			}
		}
		secrets := map[string]bool{}
		for _, s := range h.secrets {
			secrets[s] = true
		}
		for _, m := range envRef.FindAllStringSubmatch(h.text, -1) {
			if v := m[1]; !own[v] && !secrets[v] {
				t.Errorf("%s -h names $%s, which is neither one of its flags' variables nor a secret it lists", name, v)
			}
		}
		if secrets[cli.EnvClientSecret] {
			for _, f := range []string{"secret-file", "secret-expires"} {
				if _, ok := h.flags[f]; !ok {
					t.Errorf("%s takes a client secret but not -%s", name, f)
				}
			}
		}
		if slices.Contains(appOnly, name) {
			if _, ok := h.flags["cert-file"]; !ok {
				t.Errorf("%s signs in as the app but takes no -cert-file", name)
			}
		}
		if len(h.secrets) > 0 && !strings.Contains(h.text, "Each flag can also be set by the environment variable in brackets") {
			t.Errorf("%s -h does not say how variables work", name)
		}
	}
	for _, name := range appOnly {
		if _, ok := helps[name]; !ok {
			t.Errorf("no example %s", name)
		}
	}
}

var (
	goRunLine = regexp.MustCompile(`go run \./examples/([a-z-]+)((?: +[^#\n]*)?)`)
	flagWord  = regexp.MustCompile("(?:^|[\\s`(])-([a-z][a-z0-9-]*)")
	varWord   = regexp.MustCompile(`\bMAILOAUTH_[A-Z0-9_]+\b`)
)

// notFlags are words of the README's example sections that look like
// flags but belong to other commands (openssl rand -base64, go test -race)
// or to every Go program (-h).
var notFlags = map[string]bool{"h": true, "base64": true, "race": true, "tags": true}

// TestReadmeNamesRealFlags reads the README's section on the examples:
// every command line that runs an example uses flags that example has,
// every flag named in the prose is one of some example's, and every
// MAILOAUTH_ variable is a flag's or a secret's.
func TestReadmeNamesRealFlags(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start, end := strings.Index(text, "\n## Examples\n"), strings.Index(text, "\n## Setting up Microsoft Entra ID and Exchange Online")
	if start < 0 || end < start {
		t.Fatal("README.md has no Examples section before the Entra setup")
	}
	section := strings.ReplaceAll(text[start:end], "\\\n", " ") // continued command lines as one

	names := clitest.Programs(t)
	bins := clitest.Build(t, names...)
	known, vars := map[string]bool{}, map[string]bool{}
	helps := map[string]help{}
	for _, name := range names {
		h := readHelp(t, bins[name])
		helps[name] = h
		for f := range h.flags {
			known[f] = true
			vars[cli.EnvName(f)] = true
		}
		for _, s := range h.secrets {
			vars[s] = true
		}
	}
	for _, m := range goRunLine.FindAllStringSubmatch(section, -1) {
		h, ok := helps[m[1]]
		if !ok {
			t.Errorf("the README runs examples/%s, which does not exist", m[1])
			continue
		}
		for _, f := range flagWord.FindAllStringSubmatch(m[2], -1) {
			if _, ok := h.flags[f[1]]; !ok && !notFlags[f[1]] {
				t.Errorf("the README runs %s with -%s, which it does not take: %q", m[1], f[1], strings.TrimSpace(m[0]))
			}
		}
	}
	for _, f := range flagWord.FindAllStringSubmatch(section, -1) {
		if !known[f[1]] && !notFlags[f[1]] {
			t.Errorf("the README names -%s, a flag of no example", f[1])
		}
	}
	for _, v := range varWord.FindAllString(section, -1) {
		if !vars[v] && v != "MAILOAUTH_" {
			t.Errorf("the README names $%s, the variable of no flag or secret", v)
		}
	}
}
