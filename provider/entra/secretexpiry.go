package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

// Credential sources named by CredentialExpiry.
const (
	SourceClientSecret = "client secret"
	SourceCertificate  = "certificate"
)

// Entra error codes for an expired client credential.
const (
	aadstsSecretExpired = 7000222 // client secret expired
	day                 = 24 * time.Hour
)

// expiryWarnings are the thresholds before expiry at which a warning is
// logged, longest first: 30, 7 and 1 days.
var expiryWarnings = [...]time.Duration{30 * day, 7 * day, 1 * day}

// CredentialExpiry returns when cfg's client credential expires and which
// one it is (SourceCertificate or SourceClientSecret). It returns the zero
// time and "" when the expiry is unknown: a public client, or a secret
// without SecretExpiresAt.
func CredentialExpiry(cfg Config) (expires time.Time, source string) {
	switch {
	case cfg.Certificate != nil && cfg.Certificate.Leaf() != nil:
		return cfg.Certificate.NotAfter(), SourceCertificate
	case cfg.ClientSecret != "" && !cfg.SecretExpiresAt.IsZero():
		return cfg.SecretExpiresAt, SourceClientSecret
	}
	return time.Time{}, ""
}

// expiryWatcher logs a credential's coming expiry: a warning when 30, 7
// and 1 days are left and an error once it has expired, each once per
// watcher (one watcher per Mailbox), however many tokens are fetched.
type expiryWatcher struct {
	expires  time.Time
	source   string
	clientID string
	logger   *slog.Logger
	now      func() time.Time

	mu    sync.Mutex // guards stage
	stage int        // thresholds logged so far; len(expiryWarnings)+1 once expiry was logged
}

// newExpiryWatcher returns nil when cfg's expiry is unknown.
func newExpiryWatcher(cfg Config) *expiryWatcher {
	exp, src := CredentialExpiry(cfg)
	if exp.IsZero() {
		return nil
	}
	return &expiryWatcher{expires: exp, source: src, clientID: cfg.ClientID, logger: cfg.logger(), now: cfg.now}
}

// check logs the most severe threshold crossed since the last check.
func (w *expiryWatcher) check(ctx context.Context) {
	if w == nil {
		return
	}
	left := w.expires.Sub(w.now())
	stage := 0
	for i, t := range expiryWarnings {
		if left <= t {
			stage = i + 1
		}
	}
	if left <= 0 {
		stage = len(expiryWarnings) + 1
	}
	w.mu.Lock()
	if stage <= w.stage {
		w.mu.Unlock()
		return
	}
	w.stage = stage
	w.mu.Unlock()

	date := w.expires.UTC().Format(time.DateOnly)
	attrs := []any{"client_id", w.clientID, "expires", date}
	if stage > len(expiryWarnings) {
		w.logger.ErrorContext(ctx, fmt.Sprintf("entra: the %s expired on %s; token requests will fail: %s", w.source, date, renewAdvice(w.source)), attrs...)
		return
	}
	days := int((left + day - 1) / day) // round up: 23 hours left is "1 day"
	w.logger.WarnContext(ctx, fmt.Sprintf("entra: the %s expires in %s, on %s: %s", w.source, plural(days, "day"), date, renewAdvice(w.source)),
		append(attrs, "days_left", days)...)
}

func renewAdvice(source string) string {
	if source == SourceCertificate {
		return "upload a new certificate under the app registration's Certificates & secrets and load it here"
	}
	return "add a new client secret under the app registration's Certificates & secrets and give the program its value and its expiry date"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// ExpiredCredentialError is a token request refused because the client
// secret or certificate has expired. Its Diagnosis names the date.
type ExpiredCredentialError struct {
	Source    string    // SourceClientSecret or SourceCertificate
	ExpiresAt time.Time // zero when the configuration does not know it
	Err       error     // the token endpoint's error
}

func (e *ExpiredCredentialError) Error() string {
	return "entra: " + e.summary() + ": " + e.Err.Error()
}

// Unwrap returns the Diagnosis and the token endpoint's error, so that
// provider.Diagnose and errors.As find the dated Diagnosis first.
func (e *ExpiredCredentialError) Unwrap() []error { return []error{e.Diagnosis(), e.Err} }

// Diagnosis is the Misconfigured diagnosis of the expiry, with the date.
func (e *ExpiredCredentialError) Diagnosis() *provider.Diagnosis {
	var d provider.Diagnosis
	if known := diagnoseWithout(e.Err); known != nil {
		d = *known
	}
	d.Kind = provider.Misconfigured
	if d.Code == "" {
		if e.Source == SourceCertificate {
			d.Code = "certificate expired"
		} else {
			d.Code = "AADSTS" + strconv.Itoa(aadstsSecretExpired)
		}
	}
	d.Summary = strings.ToUpper(e.summary()[:1]) + e.summary()[1:] + "."
	if d.Fix == "" {
		d.Fix = strings.ToUpper(renewAdvice(e.Source)[:1]) + renewAdvice(e.Source)[1:] + "."
	}
	return &d
}

func (e *ExpiredCredentialError) summary() string {
	if e.ExpiresAt.IsZero() {
		return "the " + e.Source + " has expired (the program was not given its expiry date; give it the next one's to be warned before it expires)"
	}
	return "the " + e.Source + " expired on " + e.ExpiresAt.UTC().Format(time.DateOnly)
}

// diagnoseWithout asks provider.Diagnose about err; err never holds an
// ExpiredCredentialError, so there is no recursion.
func diagnoseWithout(err error) *provider.Diagnosis { return provider.Diagnose(err) }

// wrapExpired returns err as an *ExpiredCredentialError when it is the
// identity provider's refusal of an expired credential: AADSTS7000222
// (secret expired), or any refusal of the client once the configured
// expiry has passed. Other errors come back unchanged.
func wrapExpired(cfg Config, err error) error {
	if err == nil {
		return nil
	}
	var te *oauth.TokenError
	if !errors.As(err, &te) {
		return err
	}
	exp, src := CredentialExpiry(cfg)
	switch {
	case hasErrorCode(err, aadstsSecretExpired):
		if src != SourceClientSecret {
			exp, src = time.Time{}, SourceClientSecret
		}
	case !exp.IsZero() && !cfg.now().Before(exp) && (te.Code() == "invalid_client" || te.Code() == "unauthorized_client"):
	default:
		return err
	}
	return &ExpiredCredentialError{Source: src, ExpiresAt: exp, Err: err}
}

// hasErrorCode reports whether an Entra error answer in err's chain lists
// code in error_codes or starts its description with AADSTS<code>.
func hasErrorCode(err error, code int) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	var body struct {
		ErrorCodes []int `json:"error_codes"`
	}
	if json.Unmarshal(re.Body, &body) == nil {
		for _, c := range body.ErrorCodes {
			if c == code {
				return true
			}
		}
	}
	return strings.HasPrefix(re.ErrorDescription, "AADSTS"+strconv.Itoa(code)+":")
}
