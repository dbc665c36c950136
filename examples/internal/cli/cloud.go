package cli

import (
	"strings"

	"github.com/mailoauth/mailoauth/provider/entra"
)

// CloudFlags are -cloud and -authority-host: the Microsoft cloud whose login host and
// Exchange Online servers a program uses, and a login host to use instead
// of the cloud's.
type CloudFlags struct {
	name, authorityHost *string
	cloud               entra.Cloud // set by Parse
}

// Cloud defines -cloud (default global) and -authority-host. Parse
// refuses an unknown cloud.
func (f *Flags) Cloud() *CloudFlags {
	c := &CloudFlags{
		name:          f.EnvString("cloud", "global", ""),
		authorityHost: f.EnvString("authority-host", "", ""),
	}
	f.check(func() (err error) {
		c.cloud, err = CloudNamed(*c.name, *c.authorityHost)
		return err
	})
	return c
}

// Cloud returns the cloud the flags name. Call it after Flags.Parse.
func (c *CloudFlags) Cloud() entra.Cloud { return c.cloud }

// CloudNamed returns the Microsoft cloud called name (global, usgov or
// gcchigh, usgovdod or dod, china; "" is global), signing in at
// authorityHost instead of its own login host when that is not empty. An
// unknown name is a *UsageError.
func CloudNamed(name, authorityHost string) (entra.Cloud, error) {
	var cl entra.Cloud
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "global":
		cl = entra.Global
	case "usgov", "gcchigh":
		cl = entra.USGovernment
	case "usgovdod", "dod":
		cl = entra.USGovernmentDoD
	case "china":
		cl = entra.China
	default:
		return entra.Cloud{}, Usagef("-cloud %q: want global, usgov, usgovdod or china", name)
	}
	if authorityHost != "" {
		cl = cl.WithAuthorityHost(strings.TrimRight(authorityHost, "/"))
	}
	return cl, nil
}
