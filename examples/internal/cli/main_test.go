package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
)

// envMainMode makes the test binary run cli.Main instead of the tests.
const envMainMode = "CLI_TEST_MAIN_MODE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMainMode); mode != "" {
		cli.Main("prog", func(_ context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
			switch mode {
			case "ok":
				fmt.Fprintf(stdout, "ran with %d arguments and %s\n", len(args), getenv(envMainMode))
				return nil
			case "usage":
				return cli.Usagef("-to is required")
			}
			return errors.New("broken")
		})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestMainExitStatus runs cli.Main in a child process: the program gets
// the process's arguments and environment, and its error becomes Explain's
// text on stderr and exit status.
func TestMainExitStatus(t *testing.T) {
	for _, tc := range []struct {
		mode           string
		status         int
		stdout, stderr string
	}{
		{"ok", 0, "ran with 1 arguments and ok\n", ""},
		{"usage", cli.StatusUsage, "", "prog: -to is required\nRun prog -h for the flags.\n"},
		{"fail", cli.StatusFailure, "", "prog: broken\n"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envMainMode+"="+tc.mode)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			status := 0
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || stdout.String() != tc.stdout || !strings.HasPrefix(stderr.String(), tc.stderr) {
				t.Errorf("status %d, stdout %q, stderr %q; want %d, %q, %q", status, stdout.String(), stderr.String(), tc.status, tc.stdout, tc.stderr)
			}
		})
	}
}
