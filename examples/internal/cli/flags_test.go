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
// flag from its variable, then overrides some on the command line.
func TestEnvFlagsTakeTheEnvironmentAndTheCommandLineWins(t *testing.T) {
	env := clitest.Env(map[string]string{
		"MAILOAUTH_NAME": "from-env", "MAILOAUTH_COUNT": "7", "MAILOAUTH_ON": "true", "MAILOAUTH_WAIT": "90s", "MAILOAUTH_LEFT_OVER": "env",
		"MAILOAUTH_OFF": "false",
	})
	fs := cli.NewFlags("prog", env, &bytes.Buffer{})
	name := fs.EnvString("name", "fallback", "a name")
	count := fs.EnvInt("count", 1, "a count")
	on := fs.EnvBool("on", false, "a switch")
	off := fs.EnvBool("off", true, "a switch on by default")
	wait := fs.EnvDuration("wait", time.Second, "a wait")
	left := fs.EnvString("left-over", "", "untouched")
	unset := fs.EnvString("unset", "fallback", "from its default")
	if err := fs.Parse([]string{"-name", "from-flag", "-count", "9"}); err != nil {
		t.Fatal(err)
	}
	if *name != "from-flag" || *count != 9 || !*on || *off || *wait != 90*time.Second || *left != "env" || *unset != "fallback" {
		t.Errorf("name %q count %d on %v off %v wait %v left %q unset %q", *name, *count, *on, *off, *wait, *left, *unset)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"smtp-host":       "MAILOAUTH_SMTP_HOST",
		"store":           "MAILOAUTH_STORE",
		"google-key-file": "MAILOAUTH_GOOGLE_KEY_FILE",
		"verbose":         "MAILOAUTH_VERBOSE",
	} {
		if got := cli.EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// TestHelpNamesEachVariable checks -h: each flag's usage, a shared
// setting's meaning first, then its variable; and the secrets that only
// the environment gives.
func TestHelpNamesEachVariable(t *testing.T) {
	var out bytes.Buffer
	fs := cli.NewFlags("prog", clitest.Env(nil), &out)
	fs.EnvString("tenant", "", "\"organizations\" for a multi-tenant app")
	fs.EnvString("folder", "INBOX", "folder to watch")
	fs.Credential(true)
	if err := fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	what, _ := cli.SharedSetting("tenant")
	for _, want := range []string{
		what + "; \"organizations\" for a multi-tenant app [$MAILOAUTH_TENANT]",
		"folder to watch [$MAILOAUTH_FOLDER]",
		"[$MAILOAUTH_SECRET_FILE]", "[$MAILOAUTH_SECRET_EXPIRES]", "[$MAILOAUTH_CERT_FILE]",
		"Secrets come from the environment only",
		"$" + cli.EnvClientSecret + "\n", "$" + cli.EnvCertPassword + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out.String())
		}
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
		{"bad variables", map[string]string{"MAILOAUTH_COUNT": "many", "MAILOAUTH_ON": "maybe"}, nil, "environment variables that do not parse: MAILOAUTH_COUNT, MAILOAUTH_ON"},
		{"stray argument", nil, []string{"oops"}, `unexpected arguments ["oops"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := cli.NewFlags("prog", clitest.Env(tc.env), &bytes.Buffer{})
			fs.EnvInt("count", 0, "")
			fs.EnvBool("on", false, "")
			err := fs.Parse(tc.args)
			if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v (usage error: %v), want a usage error with %q", err, isUsage(err), tc.want)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	fs := cli.NewFlags("prog", clitest.Env(map[string]string{"MAILOAUTH_B": "set"}), &bytes.Buffer{})
	fs.EnvString("a", "", "")
	fs.EnvString("b", "", "")
	fs.EnvString("c", "", "")
	if err := fs.Parse([]string{"-a", "x", "-c", "  "}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Required("a", "b"); err != nil {
		t.Errorf("a and b are set: %v", err)
	}
	if err := fs.Required("a", "c", "b"); err == nil || !isUsage(err) || err.Error() != "-c (or $MAILOAUTH_C) is required" {
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
