package cli

import "github.com/mailoauth/mailoauth/tokenstore"

// The values of -grant.
const (
	grantApp       = "app"
	grantDelegated = "delegated"
)

// GrantFlags are -grant and -store (MAILOAUTH_GRANT, MAILOAUTH_STORE_DIR):
// whether a program signs in as the app itself (app: the client
// credentials grant) or with a user's delegated grant, saved by
// examples/entra-authorize or examples/webauth in the folder -store
// (entra-authorize's by default).
type GrantFlags struct {
	grant, storeDir *string
}

// Grant defines -grant and -store. Parse refuses a -grant other than app
// or delegated.
func (f *Flags) Grant() *GrantFlags {
	g := &GrantFlags{
		grant:    f.EnvString("grant", "MAILOAUTH_GRANT", grantApp, "app (client credentials) or delegated (a grant saved in -store)"),
		storeDir: f.EnvString("store", "MAILOAUTH_STORE_DIR", DefaultStoreDir("entra-authorize"), "delegated: folder of the saved grant; decrypted with $"+EnvStoreKey+" when set"),
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

// Store opens the grant folder as OpenEnvStore does when -grant is
// delegated, and returns nil for app-only access, which keeps nothing.
// Call it after Flags.Parse.
func (g *GrantFlags) Store(getenv func(string) string) (tokenstore.Store, error) {
	if !g.Delegated() {
		return nil, nil
	}
	return OpenEnvStore(getenv, *g.storeDir)
}
