package entra

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

// probeRefreshToken is the deliberately invalid refresh token the probe
// redeems: Entra authenticates the client before it reads the grant, so
// invalid_grant means the credentials passed.
const probeRefreshToken = "mailoauth-credentials-probe.not-a-refresh-token"

// probeWarnBefore is how long before its expiry a credential that still
// works is reported in ProbeResult.Warning.
const probeWarnBefore = 30 * day

// ProbeResult is the verdict of ProbeCredentials.
type ProbeResult struct {
	// Accepted reports that Entra authenticated the app with its credential:
	// it refused only the deliberately invalid refresh token.
	Accepted bool
	// Credential is what was checked: SourceClientSecret,
	// SourceCertificate, or "none (public client)".
	Credential string
	// Problem says in words what is wrong when Accepted is false: an unknown
	// app, a wrong tenant or cloud, a wrong or expired secret, a secret ID
	// pasted instead of its value, a certificate Entra does not know.
	Problem string
	// Diagnosis is the refusal explained (provider.Diagnose), with the fix;
	// nil when Accepted.
	Diagnosis *provider.Diagnosis
	// Err is the token endpoint's refusal; nil when Accepted.
	Err error
	// Warning notes what works today but will not for long: a credential
	// that expires within 30 days. Empty otherwise.
	Warning string
}

// ProbeCredentials checks cfg's tenant, client ID and credential (secret,
// certificate, or none for a public client) without touching a mailbox, by
// redeeming a deliberately invalid refresh token at the tenant's token
// endpoint: invalid_grant proves the credential was accepted; any refusal
// of the client is returned as a ProbeResult that says what is wrong. An
// error means no verdict: the configuration is unusable (*provider.ConfigError), the
// endpoint could not be reached, or it is throttling or failing (the
// error's Diagnosis is Transient). Mailbox may be empty.
func ProbeCredentials(ctx context.Context, cfg Config) (*ProbeResult, error) {
	if err := cfg.validateApp(false); err != nil {
		return nil, err
	}
	ep, err := cfg.tokenEndpoint()
	if err != nil {
		return nil, err
	}
	res := &ProbeResult{Credential: "none (public client)"}
	switch {
	case cfg.ClientSecret != "":
		res.Credential = SourceClientSecret
	case cfg.Certificate != nil:
		res.Credential = SourceCertificate
	}
	_, err = ep.Refresh(ctx, probeRefreshToken)
	if err == nil || isInvalidGrant(err) {
		res.Accepted = true
		res.Warning = expiryWarning(cfg)
		return res, nil
	}
	var te *oauth.TokenError
	if !errors.As(err, &te) {
		// Network, throttling, 5xx, an answer that is no token endpoint's.
		return nil, provider.Annotate(fmt.Errorf("entra: credentials probe (tenant %s, client %s): %w", cfg.TenantID, cfg.ClientID, err))
	}
	err = wrapExpired(cfg, err)
	res.Err = err
	res.Diagnosis = provider.Diagnose(err)
	res.Problem = probeProblem(cfg, err, res.Diagnosis)
	return res, nil
}

// isInvalidGrant reports whether err is the token endpoint's invalid_grant.
func isInvalidGrant(err error) bool {
	var te *oauth.TokenError
	return errors.As(err, &te) && te.Code() == "invalid_grant"
}

// probeProblem puts the refusal into words naming the configuration's
// values (never the secret).
func probeProblem(cfg Config, err error, d *provider.Diagnosis) string {
	tenant, client, cloud := strings.TrimSpace(cfg.TenantID), strings.TrimSpace(cfg.ClientID), cfg.cloud().Name
	has := func(code int) bool { return hasErrorCode(err, code) }
	switch {
	case has(7000215) && isGUID(strings.TrimSpace(cfg.ClientSecret)):
		return "the client secret given is the secret's ID (a GUID), not its value: copy the Value column under App registrations → <app> → Certificates & secrets (it is shown only when the secret is created; create a new one if it is gone)"
	case has(7000215):
		return "the client secret is wrong for app " + client + ": copy the secret's Value again or create a new client secret"
	case has(aadstsSecretExpired):
		var exp *ExpiredCredentialError
		if errors.As(err, &exp) && !exp.ExpiresAt.IsZero() {
			return "the client secret expired on " + exp.ExpiresAt.UTC().Format(time.DateOnly) + ": create a new client secret and give the program its value and its expiry date"
		}
		return "the client secret has expired: create a new client secret and give the program its value and its expiry date"
	case has(700016), has(700011):
		return "app " + client + " is not registered in tenant " + tenant + " (" + cloud + " cloud): check the application (client) ID and the directory (tenant) ID on the app registration's Overview page, the cloud, and for a multi-tenant app the tenant's admin consent"
	case has(90002):
		return "tenant " + tenant + " does not exist in the " + cloud + " cloud: check the directory (tenant) ID and the cloud"
	case has(90038):
		return "tenant " + tenant + " belongs to another national cloud than " + cloud + ": configure the tenant's cloud"
	case has(7000218):
		return "app " + client + " is a confidential client and the configuration has no credential: give the program the app's client secret or certificate"
	case has(700025):
		return "app " + client + " is a public client and must not send a " + credentialName(cfg) + ": remove it from the configuration"
	case has(700027):
		return "the certificate (thumbprint " + thumbprint(cfg) + ") is not registered for app " + client + " or its signature does not verify: upload it under App registrations → <app> → Certificates & secrets → Certificates"
	case has(700024):
		return "the client assertion's time window was refused: the host clock is wrong"
	}
	var te *oauth.TokenError
	if errors.As(err, &te) && te.Code() == "invalid_client" && isGUID(strings.TrimSpace(cfg.ClientSecret)) {
		return "the client was refused and the client secret given is a GUID, which is a secret's ID, not its value"
	}
	if d != nil {
		return strings.TrimSuffix(d.Summary, ".")
	}
	code := ""
	if te != nil {
		code = te.Code()
	}
	return "the token endpoint refused the client (" + strconv.Quote(code) + ")"
}

func credentialName(cfg Config) string {
	if cfg.Certificate != nil {
		return "certificate assertion"
	}
	return "client secret"
}

func thumbprint(cfg Config) string {
	if cfg.Certificate == nil {
		return "none"
	}
	return cfg.Certificate.Thumbprint()
}

// expiryWarning notes a credential that expires within probeWarnBefore.
func expiryWarning(cfg Config) string {
	exp, src := CredentialExpiry(cfg)
	if exp.IsZero() {
		return ""
	}
	left := exp.Sub(cfg.now())
	switch {
	case left <= 0:
		return "the " + src + " expired on " + exp.UTC().Format(time.DateOnly) + " according to the configuration, yet Entra accepted it: check the secret's expiry date given to the program"
	case left <= probeWarnBefore:
		return "the " + src + " expires on " + exp.UTC().Format(time.DateOnly) + ": " + renewAdvice(src)
	}
	return ""
}
