package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
)

// step returns the text of step n of the quickstart's output: from the
// line starting "n. " to the next numbered step or the blank line before
// the summary.
func step(t *testing.T, out string, n int) string {
	t.Helper()
	re := regexp.MustCompile(`(?ms)^` + regexp.QuoteMeta(string(rune('0'+n))) + `\. .*?(?:^\d\. |^$)`)
	s := re.FindString(out)
	if s == "" {
		t.Fatalf("step %d is missing from the output:\n%s", n, out)
	}
	return s
}

func TestQuickstartTellsEachStepWithTheRightCounts(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), nil, clitest.Env(nil), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if stderr.Len() != 0 {
		t.Errorf("stderr without -v: %q", stderr.String())
	}

	checks := []struct {
		step int
		want []string
	}{
		{1, []string{"identity provider", "SMTP submission server", "IMAP server", "SMTP.SendAsApp and IMAP.AccessAsApp", mailbox}},
		{2, []string{"client credentials", "https://outlook.office365.com/.default", "Token requests so far: 1."}},
		{3, []string{"AUTH XOAUTH2", "envelope from " + mailbox + " to " + mailbox}},
		{4, []string{"imapx.Mailgate", "Subject: Ticket #1001 was opened", "From:    " + mailbox, "Token requests so far: 1."}},
		{5, []string{"expired", "1 new token request", "Token requests so far: 2."}},
		{6, []string{"535 5.7.3", "took 1 new one", "Refused logins: 1.", "Token requests so far: 3."}},
		{7, []string{"Subject: Ticket #1001 was answered", "Subject: Ticket #1001 was closed"}},
	}
	for _, c := range checks {
		s := step(t, out, c.step)
		for _, w := range c.want {
			if !strings.Contains(s, w) {
				t.Errorf("step %d does not say %q:\n%s", c.step, w, s)
			}
		}
	}
	for _, w := range []string{
		"Summary: 3 messages sent, 3 received over IMAP. 3 token requests: 1 at the start,\n1 after the expiry, 1 after the refusal. SMTP logins: 3 accepted, 1 refused.",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("the summary does not say %q:\n%s", w, out)
		}
	}
}

// TestQuickstartVerboseRedactsTokens runs with -v: the SMTP and IMAP
// dialogues are printed, and no access token (a JWT, "eyJ...") and no
// XOAUTH2 payload (base64 of "user=...", "dXNlcj0...") is among them.
func TestQuickstartVerboseRedactsTokens(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-verbose"}, clitest.Env(nil), &stdout, &stderr); err != nil {
		t.Fatalf("run -v: %v\n%s", err, stderr.String())
	}
	transcript := stderr.String()
	for _, w := range []string{"C: AUTH XOAUTH2", "C: [redacted]", "AUTHENTICATE XOAUTH2 [redacted]", "S: 535 5.7.3"} {
		if !strings.Contains(transcript, w) {
			t.Errorf("the transcript lacks %q", w)
		}
	}
	for _, secret := range []string{"eyJ", "dXNlcj0", clientSecret} {
		if strings.Contains(transcript, secret) || strings.Contains(stdout.String(), secret) {
			t.Errorf("the output contains %q", secret)
		}
	}
}

func TestQuickstartRefusesArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"extra"}, clitest.Env(nil), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Fatalf("run extra: %v", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("started anyway:\n%s", stdout.String())
	}
	var buf bytes.Buffer
	if code := cli.Explain(&buf, "quickstart", err); code != cli.StatusUsage || !strings.Contains(buf.String(), "unexpected arguments") {
		t.Errorf("explain: %d %q", code, buf.String())
	}
}
