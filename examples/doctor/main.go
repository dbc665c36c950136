// Command doctor checks an Exchange Online mail configuration end to end
// and says, step by step, what works and what to fix:
//
//	credentials   the tenant, the client ID and the secret or certificate,
//	              checked at Entra ID without touching a mailbox
//	token         an access token for the mailbox, with its claims (audience,
//	              tenant, roles or scopes, user, expiry) and what is wrong
//	              with them for mail
//	smtp login    SMTP AUTH with the token
//	imap login    IMAP AUTHENTICATE with the token
//	test send     one message to -to, when given
//
// Each step prints OK, or FAIL with the diagnosis: its kind, the code
// found (an AADSTS number, an SMTP or IMAP reply), what went wrong and the
// fix. A step that cannot run because an earlier one failed prints SKIP.
// Problems read from the token's claims print WARN: the logins that follow
// are the servers' own verdict, and the warning explains a refusal. The
// exit status is 0 when no step failed, 1 otherwise.
//
// App-only access (the default, -grant app), with the client secret's
// value in the environment (or in the file named by -secret-file):
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret value>'
//	go run ./examples/doctor -tenant <tenant id> -client-id <client id> -mailbox helpdesk@contoso.com -to you@contoso.com
//
// or with a certificate: -cert-file app.pem (the certificate and its
// private key) or app.pfx (its password in MAILOAUTH_CERT_PASSWORD).
// Delegated access (-grant delegated) checks the grant saved by
// examples/entra-authorize (its folder is the default -store) or
// examples/webauth (pass its -store), decrypted with MAILOAUTH_STORE_KEY
// (or -store-key-file) when it was encrypted.
//
// Every setting can also be given by the environment variable named in -h
// (MAILOAUTH_TENANT, MAILOAUTH_CLIENT_ID, ...). -cloud selects a national
// cloud; -authority-host, -smtp-host, -smtp-port, -smtp-security,
// -imap-host, -imap-port, -imap-security and -ca-file point the program at
// other servers: its tests run it against providertest, smtpxtest and
// imapxtest, and examples/testservers starts them for a try from the shell.
//
// The flags, secrets, grant folder and certificate authorities are read by
// examples/internal/cli, shared by the examples: a copy of this program
// taken out of the repository needs that package alongside it, or the few
// functions of it that it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
)

// checkTimeout bounds the whole check.
const checkTimeout = 2 * time.Minute

func main() { cli.Main("doctor", run) }

// errChecksFailed is run's error when a step failed: the report already
// said why.
type errChecksFailed int

func (n errChecksFailed) Error() string { return fmt.Sprintf("%d of the checks failed", int(n)) }

// run checks the configuration, printing a line per step on stdout. It
// returns an error when a step failed or the checks could not start.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	// The report prints each failure: log lines that only repeat one are
	// dropped.
	logger, reported := cli.Once(cfg.logger)
	cfg.entra.Logger = logger
	r := &report{w: stdout}
	failed := check(ctx, cfg, r)
	reported(errors.Join(r.errs...))
	if failed > 0 {
		return errChecksFailed(failed)
	}
	return nil
}
