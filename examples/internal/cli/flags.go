package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the name of every environment variable of the examples.
const EnvPrefix = "MAILOAUTH_"

// EnvName returns the environment variable of the flag name: EnvPrefix and
// the name in upper case with each "-" turned into "_" (-smtp-host is
// MAILOAUTH_SMTP_HOST). Every flag of every example has exactly this
// variable.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Flags is a program's flag set: every flag may also be given by its
// environment variable (EnvName), named in -h after the flag's usage; a
// flag on the command line wins. -h also lists the secrets the program
// reads from the environment only.
//
// Parse, not the embedded FlagSet's, must read the command line: it turns
// every mistake into a *UsageError, including an environment variable that
// does not parse, and runs the checks of Server, Cloud, CAFile, Grant,
// Store and Credential.
type Flags struct {
	*flag.FlagSet
	getenv  func(string) string
	bad     []string       // environment variables that do not parse
	checks  []func() error // run by Parse once the flags are read
	secrets []secretVar    // variables read from the environment only, for -h
}

// secretVar is a secret that only the environment gives.
type secretVar struct{ env, usage string }

// NewFlags returns an empty flag set for the program name, reading the
// environment with getenv and writing -h and parse errors to stderr.
func NewFlags(name string, getenv func(string) string, stderr io.Writer) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &Flags{FlagSet: fs, getenv: getenv}
	fs.Usage = f.usage
	return f
}

// usage is -h: the flags with their variables, then the secrets.
func (f *Flags) usage() {
	w := f.Output()
	fmt.Fprintf(w, "Usage of %s:\n", f.Name())
	f.PrintDefaults()
	fmt.Fprintf(w, "\nEach flag can also be set by the environment variable in brackets; a flag on the command line wins.\n")
	if len(f.secrets) == 0 {
		return
	}
	fmt.Fprintf(w, "Secrets come from the environment only, never from a flag:\n")
	secrets := append([]secretVar(nil), f.secrets...)
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].env < secrets[j].env })
	for _, s := range secrets {
		fmt.Fprintf(w, "  $%s\n    \t%s\n", s.env, s.usage)
	}
}

// secret declares a secret read from the environment variable env only,
// for -h to list. Declaring it twice lists it once.
func (f *Flags) secret(env, usage string) {
	for _, s := range f.secrets {
		if s.env == env {
			return
		}
	}
	f.secrets = append(f.secrets, secretVar{env, usage})
}

// usageOf is a flag's usage as -h shows it: the setting's shared text
// (see SharedSetting) followed by detail, or detail alone for a setting of
// one program; then its environment variable.
func usageOf(name, detail string) string {
	text := detail
	if what, ok := SharedSetting(name); ok {
		text = what
		if detail != "" {
			text += "; " + detail
		}
	}
	return text + " [$" + EnvName(name) + "]"
}

// envValue returns the value of the flag name's environment variable
// parsed by parse, or def when it is empty. A value that does not parse is
// noted for Parse to report.
func envValue[T any](f *Flags, name string, def T, parse func(string) (T, error)) T {
	env := EnvName(name)
	v := f.getenv(env)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		f.bad = append(f.bad, env)
		return def
	}
	return x
}

// asIs is the parse function of string flags.
func asIs(s string) (string, error) { return s, nil }

// EnvString defines a string flag whose default is its environment
// variable's value, or def when that is empty. detail adds to the shared
// usage text of the setting (or is the whole text of a setting of one
// program).
func (f *Flags) EnvString(name, def, detail string) *string {
	return f.String(name, envValue(f, name, def, asIs), usageOf(name, detail))
}

// EnvInt defines an int flag whose default is its environment variable's
// value, or def when that is empty.
func (f *Flags) EnvInt(name string, def int, detail string) *int {
	return f.Int(name, envValue(f, name, def, strconv.Atoi), usageOf(name, detail))
}

// EnvBool defines a bool flag whose default is its environment variable's
// value (1, t, true, 0, f, false, ...), or def when that is empty.
func (f *Flags) EnvBool(name string, def bool, detail string) *bool {
	return f.Bool(name, envValue(f, name, def, strconv.ParseBool), usageOf(name, detail))
}

// EnvDuration defines a duration flag whose default is its environment
// variable's value (such as "90s"), or def when that is empty.
func (f *Flags) EnvDuration(name string, def time.Duration, detail string) *time.Duration {
	return f.Duration(name, envValue(f, name, def, time.ParseDuration), usageOf(name, detail))
}

// Verbose defines -verbose: debug logs and the mail dialogue (tokens
// redacted) on stderr.
func (f *Flags) Verbose() *bool { return f.EnvBool("verbose", false, "") }

// check adds a check that Parse runs once the flags are read.
func (f *Flags) check(c func() error) { f.checks = append(f.checks, c) }

// Parse reads args. It returns flag.ErrHelp after -h; a *UsageError for a
// flag that does not parse, an environment variable that does not parse,
// an argument that is not a flag, or a value that a check of Server,
// Cloud, CAFile, Grant, Store or Credential refuses; and the error of a
// file those checks cannot read.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{msg: err.Error()}
	}
	if len(f.bad) > 0 {
		return Usagef("environment variables that do not parse: %s", strings.Join(f.bad, ", "))
	}
	if f.NArg() > 0 {
		return Usagef("unexpected arguments %q", f.Args())
	}
	for _, c := range f.checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// Required returns a *UsageError naming the first of the flags names
// whose value is empty or white space, and its variable.
func (f *Flags) Required(names ...string) error {
	for _, name := range names {
		fl := f.Lookup(name)
		if fl == nil {
			return fmt.Errorf("cli: Required: no flag -%s is defined", name)
		}
		if strings.TrimSpace(fl.Value.String()) == "" {
			return Usagef("-%s (or $%s) is required", name, EnvName(name))
		}
	}
	return nil
}

// List splits a comma-separated value, such as a list of recipients, into
// its items, white space trimmed and empty items dropped.
func List(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
