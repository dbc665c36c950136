package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
)

func isUsage(err error) bool {
	var ue *cli.UsageError
	return errors.As(err, &ue)
}

// TestEnvFlagsTakeTheEnvironmentAndTheCommandLineWins sets every kind of
// flag from the environment, then overrides some on the command line.
func TestEnvFlagsTakeTheEnvironmentAndTheCommandLineWins(t *testing.T) {
	env := clitest.Env(map[string]string{
		"X_NAME": "from-env", "X_COUNT": "7", "X_ON": "true", "X_WAIT": "90s", "X_LEFT": "env",
	})
	fs := cli.NewFlags("prog", env, &bytes.Buffer{})
	name := fs.EnvString("name", "X_NAME", "fallback", "a name")
	count := fs.EnvInt("count", "X_COUNT", 1, "a count")
	on := fs.EnvBool("on", "X_ON", "a switch")
	wait := fs.EnvDuration("wait", "X_WAIT", time.Second, "a wait")
	left := fs.EnvString("left", "X_LEFT", "", "untouched")
	unset := fs.EnvString("unset", "X_UNSET", "fallback", "from its default")
	if err := fs.Parse([]string{"-name", "from-flag", "-count", "9"}); err != nil {
		t.Fatal(err)
	}
	if *name != "from-flag" || *count != 9 || !*on || *wait != 90*time.Second || *left != "env" || *unset != "fallback" {
		t.Errorf("name %q count %d on %v wait %v left %q unset %q", *name, *count, *on, *wait, *left, *unset)
	}
}

func TestHelpNamesEachVariable(t *testing.T) {
	var out bytes.Buffer
	fs := cli.NewFlags("prog", clitest.Env(nil), &out)
	fs.EnvString("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID")
	fs.Bool("v", false, "verbose")
	if err := fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "directory (tenant) ID [$MAILOAUTH_TENANT]") {
		t.Errorf("-h output:\n%s", out.String())
	}
}

func TestParseMistakesAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"-nope"}, "flag provided but not defined: -nope"},
		{"bad flag value", nil, []string{"-count", "many"}, `invalid value "many" for flag -count`},
		{"bad variables", map[string]string{"X_COUNT": "many", "X_ON": "maybe"}, nil, "environment variables that do not parse: X_COUNT, X_ON"},
		{"stray argument", nil, []string{"oops"}, `unexpected arguments ["oops"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := cli.NewFlags("prog", clitest.Env(tc.env), &bytes.Buffer{})
			fs.EnvInt("count", "X_COUNT", 0, "")
			fs.EnvBool("on", "X_ON", "")
			err := fs.Parse(tc.args)
			if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v (usage error: %v), want a usage error with %q", err, isUsage(err), tc.want)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	fs := cli.NewFlags("prog", clitest.Env(map[string]string{"X_B": "set"}), &bytes.Buffer{})
	fs.EnvString("a", "X_A", "", "")
	fs.EnvString("b", "X_B", "", "")
	fs.EnvString("c", "X_C", "", "")
	if err := fs.Parse([]string{"-a", "x", "-c", "  "}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Required("a", "b"); err != nil {
		t.Errorf("a and b are set: %v", err)
	}
	if err := fs.Required("a", "c", "b"); err == nil || !isUsage(err) || err.Error() != "-c is required" {
		t.Errorf("c is white space: %v", err)
	}
	if err := fs.Required("d"); err == nil || isUsage(err) {
		t.Errorf("an undefined flag is the program's mistake, not the user's: %v", err)
	}
}

func TestList(t *testing.T) {
	for in, want := range map[string][]string{
		"":                       nil,
		"a@x.test":               {"a@x.test"},
		" a@x.test , ,b@y.test,": {"a@x.test", "b@y.test"},
	} {
		if got := cli.List(in); !reflect.DeepEqual(got, want) {
			t.Errorf("List(%q) = %q, want %q", in, got, want)
		}
	}
}
