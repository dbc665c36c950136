package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/smtpx"
)

func TestExplainStatusAndAdvice(t *testing.T) {
	refused := &smtpx.Error{Phase: smtpx.PhaseAuth, Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful"}
	d := provider.Diagnose(refused)
	if d == nil {
		t.Fatal("provider.Diagnose knows nothing of 535 5.7.3")
	}
	for _, tc := range []struct {
		name    string
		err     error
		status  int
		want    []string
		notWant []string
	}{
		{"help", flag.ErrHelp, 0, nil, []string{"prog"}},
		{"usage", cli.Usagef("-to is required"), cli.StatusUsage,
			[]string{"prog: -to is required\n", "Run prog -h for the flags.\n"}, []string{"What went wrong"}},
		{"wrapped usage", fmt.Errorf("$X_FILE: %w", cli.Usagef("empty")), cli.StatusUsage, []string{"prog: $X_FILE: empty\n"}, nil},
		{"diagnosed failure", fmt.Errorf("send: %w", refused), cli.StatusFailure,
			[]string{"prog: send: ", "What went wrong (" + d.Kind.String() + ", " + d.Code + "): " + d.Summary + "\n", "How to fix it: " + d.Fix + "\n"},
			[]string{"Run prog -h"}},
		{"plain failure", errors.New("disk full"), cli.StatusFailure, []string{"prog: disk full\n"}, []string{"What went wrong", "Run prog -h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if got := cli.Explain(&buf, "prog", tc.err); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, buf.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(buf.String(), w) {
					t.Errorf("output has %q:\n%s", w, buf.String())
				}
			}
		})
	}
}
