// Package gowords finds Go identifiers in text meant for an operator, for
// the tests of the packages whose errors an operator reads: "set
// ClientSecret" or "tokenstore.Store" tells a person at a command line
// nothing; "the app registration's secret value" does.
//
// It is for the module's tests only.
package gowords

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// Names returns the exported field names of the structs in structs (values
// or pointers), with extra: the identifiers a text must not name. Names in
// capitals (SMTP, IMAP, UPN) are left out: they are the protocols' and the
// products' words too.
func Names(structs []any, extra ...string) map[string]bool {
	names := map[string]bool{}
	for _, v := range structs {
		t := reflect.TypeOf(v)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && strings.ToUpper(f.Name) != f.Name {
				names[f.Name] = true
			}
		}
	}
	for _, e := range extra {
		names[e] = true
	}
	return names
}

var (
	word      = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*`)
	qualified = regexp.MustCompile(`^[a-z][a-z0-9]*\.[A-Z]`) // tokenstore.Store, entra.Config
)

// Find returns the Go identifiers text names: a qualified identifier
// (pkg.Name, Config.Field), a compound one of names (ClientSecret,
// TenantID) anywhere, or another of names anywhere but at the start of a
// sentence, where an English word may be capitalised like a field
// ("Mailbox" beginning a sentence is a word; "set Mailbox" is a field).
// Parts of URLs are not looked at.
func Find(text string, names map[string]bool) []string {
	found := map[string]bool{}
	for _, f := range strings.Fields(text) {
		if strings.Contains(f, "://") {
			continue
		}
		for _, loc := range word.FindAllStringIndex(f, -1) {
			w := f[loc[0]:loc[1]]
			switch {
			case qualified.MatchString(w), strings.Contains(w, ".") && anyName(strings.Split(w, "."), names):
				found[w] = true
			case names[w] && (compound(w) || !sentenceStart(text, f, loc[0])):
				found[w] = true
			}
		}
	}
	out := make([]string, 0, len(found))
	for w := range found {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

func anyName(parts []string, names map[string]bool) bool {
	for _, p := range parts {
		if names[p] {
			return true
		}
	}
	return false
}

// compound reports whether w has a capital after its first letter, as no
// English word does; an acronym's plural (IDs, URLs) is a word.
func compound(w string) bool {
	if n := len(w); n > 2 && w[n-1] == 's' && strings.ToUpper(w[:n-1]) == w[:n-1] {
		return false
	}
	return strings.ToLower(w[1:]) != w[1:]
}

// sentenceStart reports whether the word at offset off of field f starts
// text or follows a sentence's end.
func sentenceStart(text, f string, off int) bool {
	if off > 0 {
		return false
	}
	i := strings.Index(text, f)
	before := strings.TrimRight(text[:max(i, 0)], " \t\n")
	return before == "" || strings.HasSuffix(before, ".") || strings.HasSuffix(before, ":") || strings.HasSuffix(before, "!") || strings.HasSuffix(before, "?")
}
