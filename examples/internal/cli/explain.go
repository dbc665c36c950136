package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mailoauth/mailoauth/provider"
)

// Exit statuses of a program.
const (
	// StatusFailure is the status of a run that failed.
	StatusFailure = 1
	// StatusUsage is the status of a mistake on the command line or in the
	// environment.
	StatusUsage = 2
)

// UsageError is a mistake on the command line or in the environment: the
// program did not start its work, and exits with StatusUsage.
type UsageError struct {
	msg string
}

func (e *UsageError) Error() string { return e.msg }

// Usagef returns a *UsageError with the formatted message. The message
// must never quote a secret's value.
func Usagef(format string, a ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, a...)}
}

// Explain prints err for the user of the program name and returns the exit
// status: 0 after -h (flag.ErrHelp: the flag package has printed the
// flags, so nothing more is printed), StatusUsage for a *UsageError (with a
// pointer to -h), and StatusFailure for anything else, followed by what
// provider.Diagnose says went wrong and how to fix it, when it knows. Both
// are in the program's terms (ErrorText, Diagnose): its flags and variables,
// never the library's Go field names.
func Explain(w io.Writer, name string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(w, "%s: %s\n", name, ErrorText(err))
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "Run %s -h for the flags.\n", name)
		return StatusUsage
	}
	var ce *provider.ConfigError
	if errors.As(err, &ce) {
		return StatusFailure // the first line names the setting and what is wrong with it
	}
	if d := Diagnose(err); d != nil {
		fmt.Fprintf(w, "What went wrong (%s, %s): %s\nHow to fix it: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return StatusFailure
}

// Program is an example's whole program, the process taken out so that
// tests can run it: the arguments after the program's name, the
// environment's lookup function, and the two output streams.
type Program func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main is the body of an example's main function: it runs run with a
// context that Ctrl-C or SIGTERM cancels, and on error prints Explain's
// account on stderr and exits with its status.
func Main(name string, run Program) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(Explain(os.Stderr, name, err))
	}
}
