package cli

import "github.com/mailoauth/mailoauth/tokenstore"

// The values of -grant.
const (
	grantApp       = "app"
	grantDelegated = "delegated"
)

// GrantFlags are -grant with -store and -store-key-file: whether a
// program signs in as the app itself (app: client credentials, or a
// Google service account) or with a user's delegated grant, saved by
// examples/entra-authorize or examples/webauth in the folder -store
// (entra-authorize's by default).
type GrantFlags struct {
	grant *string
	store *StoreFlags
}

// Grant defines -grant, -store and -store-key-file. Parse refuses a -grant
// other than app or delegated.
func (f *Flags) Grant() *GrantFlags {
	g := &GrantFlags{
		grant: f.EnvString("grant", grantApp, ""),
		store: f.Store("entra-authorize", "delegated only"),
	}
	f.check(func() error {
		if *g.grant != grantApp && *g.grant != grantDelegated {
			return Usagef("-grant %q: want app or delegated", *g.grant)
		}
		return nil
	})
	return g
}

// Delegated reports whether -grant is delegated. Call it after
// Flags.Parse.
func (g *GrantFlags) Delegated() bool { return *g.grant == grantDelegated }

// Store opens the grant folder when -grant is delegated, and returns nil
// for the app's own access, which keeps nothing. Call it after
// Flags.Parse.
func (g *GrantFlags) Store() (tokenstore.Store, error) {
	if !g.Delegated() {
		return nil, nil
	}
	return g.store.Open()
}
