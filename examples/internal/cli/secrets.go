package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/provider/entra"
)

// EnvClientSecret holds the value of an app registration's client secret.
// Secrets are never taken from flags, which other users of the machine can
// read in the process list: the value comes from this variable or from the
// file named by -secret-file.
const EnvClientSecret = "MAILOAUTH_CLIENT_SECRET"

// day is a calendar day, for the expiry warnings.
const day = 24 * time.Hour

// secretWarnings are how long before its expiry a client secret is warned
// of, longest first: what entra.Config.SecretExpiresAt does for Entra.
var secretWarnings = [...]time.Duration{30 * day, 7 * day, 1 * day}

// ReadSecret returns the secret held by the environment variable env or,
// when path is not empty, read from the file path (surrounding white space
// trimmed); "" when neither is given. fileFlag names the flag of path in
// errors. Giving both, or a file with nothing in it, is a *UsageError. No
// error quotes the secret.
func ReadSecret(getenv func(string) string, env, fileFlag, path string) (string, error) {
	v := getenv(env)
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", Usagef("both $%s and -%s are given: give the secret once", env, fileFlag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("-%s: read the secret: %w", fileFlag, err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", Usagef("-%s %s: the file is empty", fileFlag, path)
	}
	return secret, nil
}

// CredentialFlags are -secret-file and -secret-expires, and -cert-file
// when the program can sign in with a certificate: how a program proves
// to the identity provider that it is the app. The secret's value comes
// from EnvClientSecret or the file of -secret-file.
type CredentialFlags struct {
	getenv                      func(string) string
	secretFile, expires, certFl *string // certFl nil: no -cert-file
	cred                        Credential
}

// Credential is the client credential the flags give: a secret (with its
// expiry date when known), a certificate, or nothing.
type Credential struct {
	Secret      string
	Expires     time.Time // the secret's expiry date; zero: unknown
	Certificate *entra.Certificate
}

// None reports whether no credential is given (a public client).
func (c Credential) None() bool { return c.Secret == "" && c.Certificate == nil }

// Name says which credential it is, for messages: "client secret",
// "certificate <thumbprint>" or "no credential".
func (c Credential) Name() string {
	switch {
	case c.Certificate != nil:
		return "certificate " + c.Certificate.Thumbprint()
	case c.Secret != "":
		return "client secret"
	}
	return "no credential"
}

// Entra sets cfg's credential: ClientSecret with SecretExpiresAt (Entra
// logs the expiry warnings), or Certificate.
func (c Credential) Entra(cfg *entra.Config) {
	cfg.ClientSecret, cfg.SecretExpiresAt, cfg.Certificate = c.Secret, c.Expires, c.Certificate
}

// WarnExpiry logs once, at start, how soon the secret expires when that is
// within 30 days, or that it has expired: for providers whose package does
// not (Google). now is the current time.
func (c Credential) WarnExpiry(ctx context.Context, logger *slog.Logger, now time.Time) {
	if c.Secret == "" || c.Expires.IsZero() {
		return
	}
	left := c.Expires.Sub(now)
	date := c.Expires.Format(time.DateOnly)
	const advice = "create a new client secret, put its value in $" + EnvClientSecret + " (or -secret-file) and its date in -secret-expires"
	switch {
	case left <= 0:
		logger.ErrorContext(ctx, "the client secret expired on "+date+": "+advice, "expires", date)
	case left <= secretWarnings[0]:
		days := int((left + day - 1) / day)
		logger.WarnContext(ctx, fmt.Sprintf("the client secret expires in %d days, on %s: %s", days, date, advice), "expires", date, "days_left", days)
	}
}

// Credential defines -secret-file and -secret-expires, and -cert-file when
// cert is true. Parse refuses a -secret-expires that is not a date, a
// secret given both ways, and a secret together with a certificate, and
// reads the certificate. A program that needs a credential checks
// Credential().None() itself: a public client has none.
func (f *Flags) Credential(cert bool) *CredentialFlags {
	c := &CredentialFlags{
		getenv:     f.getenv,
		secretFile: f.EnvString("secret-file", "", ""),
		expires:    f.EnvString("secret-expires", "", ""),
	}
	f.secret(EnvClientSecret, "the client secret's value (or -secret-file)")
	if cert {
		c.certFl = f.EnvString("cert-file", "", "")
		f.secret(EnvCertPassword, "the password of a .pfx or .p12 -cert-file")
	}
	f.check(c.load)
	return c
}

// load is the check Parse runs.
func (c *CredentialFlags) load() error {
	var err error
	if *c.expires != "" {
		if c.cred.Expires, err = time.Parse(time.DateOnly, strings.TrimSpace(*c.expires)); err != nil {
			return Usagef("-secret-expires %q is not a date like 2027-03-01", *c.expires)
		}
	}
	if c.cred.Secret, err = ReadSecret(c.getenv, EnvClientSecret, "secret-file", *c.secretFile); err != nil {
		return err
	}
	if c.certFl == nil || *c.certFl == "" {
		return nil
	}
	if c.cred.Secret != "" {
		return Usagef("both a client secret and -cert-file are given: choose one credential")
	}
	c.cred.Certificate, err = LoadCertificate(*c.certFl, c.getenv(EnvCertPassword))
	return err
}

// Credential returns the credential the flags give. Call it after
// Flags.Parse.
func (c *CredentialFlags) Credential() Credential { return c.cred }

// Missing is the *UsageError of a program that needs a credential and was
// given none.
func (c *CredentialFlags) Missing() error {
	if c.certFl != nil {
		return Usagef("no credential: set $%s, -secret-file or -cert-file", EnvClientSecret)
	}
	return Usagef("no client secret: set $%s or -secret-file", EnvClientSecret)
}
