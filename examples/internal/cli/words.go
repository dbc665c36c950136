package cli

import (
	"errors"
	"regexp"
	"strings"

	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/smtpx"
)

// The library's errors and diagnoses name the Go fields of its
// configuration (entra.Config.TenantID, provider.Server.Host); the user of
// an example sets flags. This file puts the one in the terms of the other.

// secretSetting stands for the client secret, which has a variable but no
// flag of its own.
const secretSetting = "client-secret"

// setting returns how a user of an example sets the setting named by a
// flag (or secretSetting): "-tenant (or $MAILOAUTH_TENANT)".
func setting(name string) string {
	switch name {
	case secretSetting:
		return "$" + EnvClientSecret + " (or -secret-file)"
	case "store-key":
		return "$" + EnvStoreKey + " (or -store-key-file)"
	}
	return "-" + name + " (or $" + EnvName(name) + ")"
}

// fieldSettings maps the Go names the library's configuration errors and
// diagnoses use to the examples' settings. A name with "%s" stands for the
// server of the failure: smtp or imap.
var fieldSettings = map[string]string{
	"TenantID":                             "tenant",
	"Issuer":                               "issuer",
	"Metadata.TokenEndpoint":               "issuer",
	"Metadata.AuthorizationEndpoint":       "issuer",
	"Metadata.DeviceAuthorizationEndpoint": "issuer",
	"AuthMethod":                           "auth-method",
	"PrivateKey":                           "key-file",
	"SigningAlgorithm":                     "key-file",
	"Resources":                            "resource",
	"ClientID":                             "client-id",
	"ClientSecret":                         secretSetting,
	"SecretExpiresAt":                      "secret-expires",
	"Config.SecretExpiresAt":               "secret-expires",
	"Certificate":                          "cert-file",
	"Cloud":                                "cloud",
	"Config.Cloud":                         "cloud",
	"Cloud.AuthorityHost":                  "authority-host",
	"Mailbox":                              "mailbox",
	"ClientJSON":                           "google-client-json",
	"Config.ClientJSON":                    "google-client-json",
	"ServiceAccountKey":                    "google-key-file",
	"BaseURL":                              "google-base-url",
	"redirectURL":                          "public-url",
	"store":                                "store",
	"Server.Host":                          "%s-host",
	"Server.Port":                          "%s-port",
	"Server.Security":                      "%s-security",
	"TLSConfig.RootCAs":                    "ca-file",
	"TLSConfig.RootCAs and ServerName":     "ca-file",
}

// proseFields are the Go names rewritten wherever they appear in a text,
// longest first so that Cloud.AuthorityHost goes before Cloud. Names that
// are also plain words (Cloud, Certificate, Mailbox) are rewritten only
// after "set ", "into ", " or " or " and ", where a sentence names a
// field; Mailbox never, as servers' texts say "the Mailbox".
var proseFields = regexp.MustCompile(`\b(?:Config\.)?(TLSConfig\.RootCAs and ServerName|TLSConfig\.RootCAs|Cloud\.AuthorityHost|Server\.Host|Server\.Port|Server\.Security|SecretExpiresAt|ClientSecret|ClientJSON|ServiceAccountKey|TenantID|ClientID|BaseURL)\b|((?:[Ss]et |into | or | and )(?:Config\.)?)(Cloud|Certificate)\b`)

// operatorPhrases are the library's words for a setting, in the
// operator's terms ("its expiry date"): Words names the program's setting
// after them.
var operatorPhrases = regexp.MustCompile(`\b(?:its|the secret's) expiry date\b`)

// Words returns text, a library's message, diagnosis or problem, with
// the Go names of configuration fields replaced by the settings of the
// examples, as a user of an example sets them, and the program's setting
// added after the library's words for it. err, when not nil, is the
// failure the text is about: it tells the SMTP server's settings from the
// IMAP server's.
func Words(text string, err error) string {
	proto := serverOf(err)
	text = proseFields.ReplaceAllStringFunc(text, func(m string) string {
		sub := proseFields.FindStringSubmatch(m)
		if sub[1] != "" {
			return fieldWords(sub[1], proto)
		}
		return sub[2] + fieldWords(sub[3], proto)
	})
	if s := setting("secret-expires"); !strings.Contains(text, s) {
		text = operatorPhrases.ReplaceAllStringFunc(text, func(m string) string { return m + " (" + s + ")" })
	}
	return text
}

// fieldWords is Words for one Go name.
func fieldWords(field, proto string) string { return serverSetting(fieldSettings[field], proto) }

// serverSetting is setting for a name that may stand for the server of the
// failure ("%s-host"): that of proto, or of both when proto is "".
func serverSetting(name, proto string) string {
	if !strings.Contains(name, "%s") {
		return setting(name)
	}
	if proto == "" {
		return setting(strings.Replace(name, "%s", "smtp", 1)) + " or " + setting(strings.Replace(name, "%s", "imap", 1))
	}
	return setting(strings.Replace(name, "%s", proto, 1))
}

// serverOf returns "smtp" or "imap" when err is a failure of that server,
// else "".
func serverOf(err error) string {
	var se *smtpx.Error
	var ie *imapx.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return "smtp"
	case errors.As(err, &ie):
		return "imap"
	}
	return ""
}

// codeSettings lists, for the diagnoses whose fix is a setting of the
// program, the settings to change (by catalogue code).
var codeSettings = map[string][]string{
	"AADSTS7000215":      {secretSetting},
	"AADSTS7000222":      {secretSetting, "secret-expires"},
	"AADSTS7000218":      {secretSetting, "cert-file"},
	"AADSTS700025":       {secretSetting, "cert-file"},
	"AADSTS700027":       {"cert-file"},
	"AADSTS700016":       {"client-id", "tenant", "cloud"},
	"AADSTS700011":       {"client-id", "tenant"},
	"AADSTS90002":        {"tenant", "cloud"},
	"AADSTS90038":        {"cloud", "authority-host"},
	"AADSTS50194":        {"tenant"},
	"AADSTS50011":        {"public-url"},
	"certificate":        {"%s-host", "ca-file"},
	"not TLS":            {"%s-port", "%s-security"},
	"connection refused": {"%s-host", "%s-port"},
	"DNS":                {"%s-host"},
}

// Settings returns how to set, in a program of the examples, what
// diagnosis d of err says to fix: "-tenant (or $MAILOAUTH_TENANT), -cloud
// (or $MAILOAUTH_CLOUD)"; "" when the fix is no setting of the program.
// Settings that the text already names are left out.
func Settings(d *provider.Diagnosis, err error, text string) string {
	if d == nil {
		return ""
	}
	var de *oidc.DiscoveryError
	if errors.As(err, &de) && !strings.Contains(text, setting("issuer")) {
		return setting("issuer") // no metadata where the issuer URL points
	}
	names := codeSettings[d.Code]
	if names == nil {
		return ""
	}
	proto := serverOf(err)
	if proto == "" {
		var ne *oauth.NetworkError
		if errors.As(err, &ne) && !strings.Contains(text, setting("authority-host")) {
			return setting("authority-host") // the identity provider, not a mail server
		}
	}
	var out []string
	for _, n := range names {
		if s := serverSetting(n, proto); !strings.Contains(text, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// Diagnose is provider.Diagnose in the terms of the examples: the summary
// and the fix with Words applied, and the fix followed by the settings to
// change (Settings). nil when Diagnose knows nothing of err.
func Diagnose(err error) *provider.Diagnosis {
	return Explained(provider.Diagnose(err), err)
}

// Explained is Diagnose for a diagnosis d already made of err (such as
// entra.ProbeResult's); err may be nil.
func Explained(d *provider.Diagnosis, err error) *provider.Diagnosis {
	if d == nil {
		return nil
	}
	out := *d
	out.Summary = Words(d.Summary, err)
	out.Fix = Words(d.Fix, err)
	if s := Settings(d, err, out.Summary+" "+out.Fix); s != "" {
		if out.Fix != "" && !strings.HasSuffix(out.Fix, ".") {
			out.Fix += "."
		}
		out.Fix = strings.TrimSpace(out.Fix + " In this program: " + s + ".")
	}
	return &out
}

// ErrorText is err's text as a user of an example reads it: a configuration
// error (*provider.ConfigError) names the program's setting instead of the
// Go field, and Go names elsewhere are put in the program's terms (Words).
func ErrorText(err error) string {
	text := err.Error()
	var ce *provider.ConfigError
	if errors.As(err, &ce) {
		if name, ok := fieldSettings[ce.Field]; ok && !strings.Contains(name, "%s") {
			text = strings.Replace(text, ce.Error(), setting(name)+": "+ce.Reason, 1)
		}
	}
	return Words(text, err)
}
