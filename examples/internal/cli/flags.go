package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Flags is a flag.FlagSet whose Env* flags may also be given by an
// environment variable, named in -h after the flag's usage; a flag on the
// command line wins. Its own flags (Bool, String, ...) work as usual.
//
// Parse, not the embedded FlagSet's, must read the command line: it turns
// every mistake into a *UsageError, including an environment variable that
// does not parse, and runs the checks of Server, Cloud, CAFile and Grant.
type Flags struct {
	*flag.FlagSet
	getenv func(string) string
	bad    []string       // environment variables that do not parse
	checks []func() error // run by Parse once the flags are read
}

// NewFlags returns an empty flag set for the program name, reading the
// environment with getenv and writing -h and parse errors to stderr.
func NewFlags(name string, getenv func(string) string, stderr io.Writer) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &Flags{FlagSet: fs, getenv: getenv}
}

// usage appends the environment variable's name to a flag's usage.
func usage(text, env string) string { return text + " [$" + env + "]" }

// envValue returns the value of the environment variable env parsed by
// parse, or def when env is empty. A value that does not parse is noted
// for Parse to report.
func envValue[T any](f *Flags, env string, def T, parse func(string) (T, error)) T {
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

// EnvString defines a string flag whose default is the value of env, or def
// when env is empty.
func (f *Flags) EnvString(name, env, def, text string) *string {
	return f.String(name, envValue(f, env, def, asIs), usage(text, env))
}

// EnvInt defines an int flag whose default is the value of env, or def when
// env is empty.
func (f *Flags) EnvInt(name, env string, def int, text string) *int {
	return f.Int(name, envValue(f, env, def, strconv.Atoi), usage(text, env))
}

// EnvBool defines a bool flag, false unless env holds a true value (1, t,
// true, ...).
func (f *Flags) EnvBool(name, env, text string) *bool {
	return f.Bool(name, envValue(f, env, false, strconv.ParseBool), usage(text, env))
}

// EnvDuration defines a duration flag whose default is the value of env
// (such as "90s"), or def when env is empty.
func (f *Flags) EnvDuration(name, env string, def time.Duration, text string) *time.Duration {
	return f.Duration(name, envValue(f, env, def, time.ParseDuration), usage(text, env))
}

// check adds a check that Parse runs once the flags are read.
func (f *Flags) check(c func() error) { f.checks = append(f.checks, c) }

// Parse reads args. It returns flag.ErrHelp after -h; a *UsageError for a
// flag that does not parse, an environment variable that does not parse,
// an argument that is not a flag, or a value that a Server, Cloud, CAFile
// or Grant check refuses; and the error of a -ca-file that cannot be read.
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
// whose value is empty or white space.
func (f *Flags) Required(names ...string) error {
	for _, name := range names {
		fl := f.Lookup(name)
		if fl == nil {
			return fmt.Errorf("cli: Required: no flag -%s is defined", name)
		}
		if strings.TrimSpace(fl.Value.String()) == "" {
			return Usagef("-%s is required", name)
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
