package provider

import (
	"fmt"
	"net/textproto"
	"strings"
	"testing"
)

// net/smtp returns replies as *textproto.Error with the enhanced code left
// in the text; Diagnose must read them like go-smtp's SMTPError.
func TestDiagnoseNetSMTPReplies(t *testing.T) {
	cases := []struct {
		err      *textproto.Error
		kind     Kind
		code     string
		fixWords string
	}{
		{&textproto.Error{Code: 535, Msg: "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."},
			Misconfigured, "5.7.139", "SmtpClientAuthenticationDisabled"},
		{&textproto.Error{Code: 535, Msg: "5.7.3 Authentication unsuccessful [SN4PR0501CA0051.namprd05.prod.outlook.com]"},
			Misconfigured, "5.7.3", ""},
		{&textproto.Error{Code: 432, Msg: "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"},
			Transient, "4.3.2", ""},
	}
	for _, c := range cases {
		t.Run(c.err.Error(), func(t *testing.T) {
			d := Diagnose(fmt.Errorf("send: %w", c.err))
			if d == nil {
				t.Fatalf("no diagnosis for %v", c.err)
			}
			if d.Kind != c.kind || !strings.Contains(d.Code, c.code) || !strings.Contains(d.Fix, c.fixWords) {
				t.Fatalf("got %v (code %q), want kind %v, code %q, fix naming %q", d, d.Code, c.kind, c.code, c.fixWords)
			}
		})
	}
	if enhanced, text := splitEnhanced("no code here"); enhanced != "" || text != "no code here" {
		t.Fatalf("splitEnhanced invented a code: %q %q", enhanced, text)
	}
}
