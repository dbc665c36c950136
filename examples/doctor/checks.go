package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/smtpx"
)

// The steps, in the order they run.
const (
	stepCredentials = "credentials"
	stepToken       = "token"
	stepSMTP        = "smtp login"
	stepSend        = "test send"
	stepIMAP        = "imap login"
)

// check runs every step and returns how many failed.
func check(ctx context.Context, cfg config, r *report) int {
	access := "app-only"
	if cfg.delegated {
		access = "delegated"
	}
	fmt.Fprintf(r.w, "Checking %s (%s, tenant %s, client %s)\n", cfg.entra.Mailbox, access, cfg.entra.TenantID, cfg.entra.ClientID)
	later := []string{stepToken}
	if !cfg.skipSMTP {
		later = append(later, stepSMTP)
		if cfg.sendTo != "" {
			later = append(later, stepSend)
		}
	}
	if !cfg.skipIMAP {
		later = append(later, stepIMAP)
	}

	// Credentials first: a wrong secret explains every later failure, and
	// the probe names it more precisely than a failed token request.
	res, err := entra.ProbeCredentials(ctx, cfg.entra)
	switch {
	case err != nil:
		r.fail(stepCredentials, err)
	case !res.Accepted:
		r.failDiagnosed(stepCredentials, res.Err, cli.Words(res.Problem, nil), res.Diagnosis)
	default:
		r.ok(stepCredentials, fmt.Sprintf("%s accepted for app %s in tenant %s", res.Credential, cfg.entra.ClientID, cfg.entra.TenantID))
		if res.Warning != "" {
			r.more("Warning: " + res.Warning)
		}
	}
	if r.failed > 0 {
		r.skip(later, "the credentials do not work")
		return r.failed
	}

	mb, err := openMailbox(ctx, cfg)
	if err == nil {
		err = checkToken(ctx, cfg, mb, r)
	}
	if err != nil {
		r.fail(stepToken, err)
		r.skip(later[1:], "no access token")
		return r.failed
	}

	if !cfg.skipSMTP {
		checkSMTP(ctx, cfg, mb, r)
	}
	if !cfg.skipIMAP {
		checkIMAP(ctx, cfg, mb, r)
	}
	return r.failed
}

// openMailbox returns the Mailbox of the configuration, its servers
// replaced by the overrides.
func openMailbox(ctx context.Context, cfg config) (*provider.Mailbox, error) {
	var mb *provider.Mailbox
	var err error
	if cfg.delegated {
		mb, err = entra.Delegated(ctx, cfg.entra, cfg.store)
	} else {
		mb, err = entra.ClientCredentials(ctx, cfg.entra)
	}
	if err != nil {
		return nil, err
	}
	mb.SMTP = cfg.smtp.Apply(mb.SMTP)
	mb.IMAP = cfg.imap.Apply(mb.IMAP)
	return mb, nil
}

// checkToken gets an access token and reports what its claims say. It
// returns an error only when no token could be had.
func checkToken(ctx context.Context, cfg config, mb *provider.Mailbox, r *report) error {
	tok, err := mb.Tokens.Token(ctx)
	if err != nil {
		return err
	}
	claims, err := entra.Inspect(tok.AccessToken)
	if err != nil {
		r.warn(stepToken, "a token was issued, but its claims cannot be read: "+err.Error())
		return nil
	}
	problems := claims.Check(cfg.entra.Protocols, mb.Address, cfg.entra.TenantID, time.Now())
	if len(problems) == 0 {
		r.ok(stepToken, claims.String())
		return nil
	}
	r.warn(stepToken, claims.String())
	for _, p := range problems {
		r.more("Problem: " + p)
	}
	return nil
}

// checkSMTP logs in over SMTP and, when asked, sends the test message on
// the same session.
func checkSMTP(ctx context.Context, cfg config, mb *provider.Mailbox, r *report) {
	c, err := smtpx.Dial(ctx, mb, &smtpx.Options{TLSConfig: cfg.tlsConfig, Debug: cfg.debug})
	if err != nil {
		r.fail(stepSMTP, err)
		if cfg.sendTo != "" {
			r.skip([]string{stepSend}, "no SMTP session")
		}
		return
	}
	defer c.Close()
	r.ok(stepSMTP, fmt.Sprintf("%s (%s) as %s with %s", mb.SMTP.Addr(), mb.SMTP.Security, mb.Address, mb.SASLMechanism()))
	if cfg.sendTo == "" {
		return
	}
	msg, _, err := cli.Compose(testMessage(mb.Address, cfg.sendTo))
	if err == nil {
		err = c.Send(ctx, mb.Address, []string{cfg.sendTo}, bytes.NewReader(msg))
	}
	if err != nil {
		r.fail(stepSend, err)
		return
	}
	r.ok(stepSend, "sent from "+mb.Address+" to "+cfg.sendTo)
}

// checkIMAP logs in over IMAP and out again.
func checkIMAP(ctx context.Context, cfg config, mb *provider.Mailbox, r *report) {
	c, err := imapx.Dial(ctx, mb, &imapx.Options{TLSConfig: cfg.tlsConfig, Debug: cfg.debug})
	if err != nil {
		r.fail(stepIMAP, err)
		return
	}
	defer c.Close()
	if err := c.Logout().Wait(); err != nil {
		r.fail(stepIMAP, fmt.Errorf("logged in, but LOGOUT failed: %w", err))
		return
	}
	r.ok(stepIMAP, fmt.Sprintf("%s (%s) as %s with %s", mb.IMAP.Addr(), mb.IMAP.Security, mb.Address, mb.SASLMechanism()))
}

// testMessage is the message -to receives.
func testMessage(from, to string) cli.Message {
	return cli.Message{
		From:    from,
		To:      []string{to},
		Subject: "mailoauth doctor test message",
		Body:    "This message was sent with OAuth2 by the mailoauth doctor: sending works.",
		IDHost:  "doctor.invalid",
	}
}

// report prints one line per step, and the diagnosis under a failure.
type report struct {
	w      io.Writer
	failed int
	errs   []error // the failures printed
}

// Status words.
const (
	statusOK   = "OK"
	statusWarn = "WARN"
	statusFail = "FAIL"
	statusSkip = "SKIP"
)

func (r *report) line(step, status, text string) {
	fmt.Fprintf(r.w, "%-12s %-4s  %s\n", step, status, text)
}

// more prints a line under the last step.
func (r *report) more(text string) {
	fmt.Fprintf(r.w, "%-12s %-4s  %s\n", "", "", text)
}

func (r *report) ok(step, text string)   { r.line(step, statusOK, text) }
func (r *report) warn(step, text string) { r.line(step, statusWarn, text) }

// fail prints the step's failure err and its diagnosis, in the program's
// terms (cli.ErrorText, cli.Diagnose).
func (r *report) fail(step string, err error) {
	r.failDiagnosed(step, err, cli.ErrorText(err), provider.Diagnose(err))
}

// failDiagnosed prints a failure as text, with the diagnosis d of err.
func (r *report) failDiagnosed(step string, err error, text string, d *provider.Diagnosis) {
	r.failed++
	if err != nil {
		r.errs = append(r.errs, err)
	}
	r.line(step, statusFail, text)
	d = cli.Explained(d, err)
	if d == nil {
		return
	}
	code := ""
	if d.Code != "" {
		code = " (" + d.Code + ")"
	}
	r.more(d.Kind.String() + code + ": " + d.Summary)
	if d.Fix != "" {
		r.more("Fix: " + d.Fix)
	}
}

func (r *report) skip(steps []string, why string) {
	for _, s := range steps {
		r.line(s, statusSkip, why)
	}
}
