package entra_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

// The first token is fetched before ClientCredentials returns; its failure
// must carry the diagnosis, like every error the transports return.
func TestClientCredentialsErrorCarriesDiagnosis(t *testing.T) {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "c0ffee00-0000-4000-8000-000000000001", Tenant: providertest.DefaultTenant, Secret: "right", Roles: []string{"SMTP.SendAsApp"}})
	_, err := entra.ClientCredentials(context.Background(), entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     "c0ffee00-0000-4000-8000-000000000001",
		ClientSecret: "wrong",
		Cloud:        entra.Global.WithAuthorityHost(idp.URL()),
		Mailbox:      "helpdesk@example.test",
		HTTPClient:   idp.Client(),
	})
	var d *provider.Diagnosis
	if !errors.As(err, &d) {
		t.Fatalf("error %v carries no *provider.Diagnosis", err)
	}
	if d.Code != "AADSTS7000215" || d.Kind != provider.Misconfigured {
		t.Fatalf("diagnosis %v, want Misconfigured AADSTS7000215", d)
	}
	if got := provider.Diagnose(err); got == nil || got.Code != d.Code {
		t.Fatalf("Diagnose(err) = %v, want the attached %v", got, d)
	}
}
