package cli

import (
	"context"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// CredentialsRefused is Entra ID's refusal of an app's credentials, found
// by CheckCredentials before anything else was tried. provider.Diagnose
// returns its Diagnosis.
type CredentialsRefused struct {
	Problem   string              // what is wrong, naming the configuration's values
	Diagnosis *provider.Diagnosis // the refusal explained; never nil
	Err       error               // the token endpoint's refusal
}

func (e *CredentialsRefused) Error() string {
	return "Entra ID refused the app's credentials: " + e.Problem
}

// Unwrap returns the Diagnosis, found first by provider.Diagnose, and the
// token endpoint's refusal.
func (e *CredentialsRefused) Unwrap() []error { return []error{e.Diagnosis, e.Err} }

// CheckCredentials asks Entra ID whether cfg's tenant, client ID and
// credential work (entra.ProbeCredentials, which touches no mailbox), so
// that a program refuses to start on a wrong secret instead of failing
// later, after a user has consented or a message is composed. It returns
// a *CredentialsRefused for a refusal, and the probe's error when there is
// no verdict (a configuration that cannot work, an identity provider out
// of reach). A credential about to expire is not reported here: the
// Mailbox made from cfg logs that.
func CheckCredentials(ctx context.Context, cfg entra.Config) error {
	res, err := entra.ProbeCredentials(ctx, cfg)
	if err != nil {
		return err
	}
	if res.Accepted {
		return nil
	}
	d := res.Diagnosis
	if d == nil {
		d = &provider.Diagnosis{Kind: provider.Misconfigured, Summary: res.Problem}
	}
	return &CredentialsRefused{Problem: res.Problem, Diagnosis: d, Err: res.Err}
}
