package sqlstore_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
	"github.com/mailoauth/mailoauth/tokenstore/sqlstore"
)

// These tests are the reason the SQL store exists: several instances of a
// helpdesk share one delegated grant. The identity provider rotates refresh
// tokens and revokes the whole grant when a rotated-away refresh token is
// presented again, so a double refresh would be fatal. Exactly one refresh
// must reach it, every instance must end up with a valid token, and the
// stored refresh token must be the newest of the chain.

const (
	grantClient  = "11111111-2222-3333-4444-555555555555"
	grantSecret  = "multi-instance-test-secret"
	grantMailbox = "helpdesk@example.test"
	grantScopes  = "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"
	grantKey     = "entra/helpdesk"
)

// strictIdP returns a providertest server with rotation and reuse detection
// on, the app registered, and a stored grant whose access token has just
// expired, so that every instance's first token needs a refresh.
func strictIdP(t *testing.T, store tokenstore.Store) (*providertest.Server, string) {
	idp := providertest.New()
	t.Cleanup(idp.Close)
	idp.SetRotation(true)
	idp.SetReuseDetection(true)
	idp.AddApp(providertest.App{ClientID: grantClient, Tenant: providertest.DefaultTenant, Secret: grantSecret})
	rt := idp.IssueRefreshToken(grantClient, grantMailbox, grantScopes)
	rec := &tokenstore.Record{
		Token: &oauth2.Token{
			AccessToken:  "expiring-access-token",
			TokenType:    "Bearer",
			RefreshToken: rt,
			Expiry:       time.Now().Add(-time.Second),
		},
		Account:   grantMailbox,
		Scopes:    strings.Fields(grantScopes),
		UpdatedAt: time.Now().Add(-time.Hour),
	}
	require.NoError(t, store.Save(context.Background(), grantKey, rec))
	return idp, rt
}

func instanceConfig(idpURL string, client *http.Client) entra.Config {
	return entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     grantClient,
		ClientSecret: grantSecret,
		Cloud:        entra.Global.WithAuthorityHost(idpURL),
		Mailbox:      grantMailbox,
		StoreKey:     grantKey,
		HTTPClient:   client,
		Lazy:         true,
	}
}

// checkChain asserts the stored refresh token is the newest one the IdP
// issued for the grant, and the grant is alive.
func checkChain(t *testing.T, idp *providertest.Server, store tokenstore.Store, first string) {
	t.Helper()
	chain := idp.RefreshChain(first)
	require.NotEmpty(t, chain)
	rec, err := store.Load(context.Background(), grantKey)
	require.NoError(t, err)
	require.Equal(t, chain[len(chain)-1], rec.Token.RefreshToken, "the stored refresh token must be the newest of the chain")
	require.False(t, idp.GrantRevoked(first), "a double refresh revoked the grant")
}

func TestFourInstancesRefreshOnce(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			table := uniqueTable()
			seed := newStore(t, b, b.open(t), table)
			idp, first := strictIdP(t, seed)

			const instances, callers = 4, 8
			tokens := make(chan string, instances*callers)
			var wg sync.WaitGroup
			for i := 0; i < instances; i++ {
				// Each instance: its own pool, its own store, its own cache.
				store := newStore(t, b, b.open(t), table)
				mb, err := entra.Delegated(ctx, instanceConfig(idp.URL(), idp.Client()), store)
				require.NoError(t, err)
				for j := 0; j < callers; j++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						tok, err := mb.Tokens.Token(ctx)
						if err != nil {
							t.Errorf("instance %d: %v", i, err)
							return
						}
						tokens <- tok.AccessToken
					}()
				}
			}
			wg.Wait()
			close(tokens)

			require.Equal(t, 1, idp.Requests("refresh_token"), "exactly one refresh may reach the identity provider")
			n := 0
			for tok := range tokens {
				n++
				user, err := idp.Verify(tok)
				require.NoError(t, err, "every instance must hold a valid token")
				require.Equal(t, grantMailbox, user)
			}
			require.Equal(t, instances*callers, n)
			checkChain(t, idp, seed, first)
			t.Logf("%s: %d instances x %d callers, %d refresh(es) at the identity provider", b.name, instances, callers, idp.Requests("refresh_token"))
		})
	}
}

// Environment of the child processes of TestTwoProcessesRefreshOnce.
const (
	childEnv      = "SQLSTORE_TEST_CHILD"
	childIdPEnv   = "SQLSTORE_TEST_IDP"
	childCAEnv    = "SQLSTORE_TEST_IDP_CA"
	childTableEnv = "SQLSTORE_TEST_TABLE"
)

// runChild is one instance in its own OS process: it opens its own pool on
// the shared PostgreSQL database, waits for the parent's go, takes a token
// and prints it.
func runChild(t *testing.T) {
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(os.Getenv(childCAEnv))))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	db := postgresBackend(t).open(t)
	store := newStore(t, *postgresBackend(t), db, os.Getenv(childTableEnv))
	mb, err := entra.Delegated(context.Background(), instanceConfig(os.Getenv(childIdPEnv), client), store)
	require.NoError(t, err)
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n') // the parent's go
	tok, err := mb.Tokens.Token(context.Background())
	require.NoError(t, err)
	fmt.Println("token " + tok.AccessToken)
}

func postgresBackend(t *testing.T) *backend {
	for _, b := range backends(t) {
		if b.dialect == sqlstore.Postgres {
			return &b
		}
	}
	return nil
}

func TestTwoProcessesRefreshOnce(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		runChild(t)
		return
	}
	b := postgresBackend(t)
	if b == nil {
		t.Skip(postgresEnv + " not set")
	}
	table := uniqueTable()
	seed := newStore(t, *b, b.open(t), table)
	idp, first := strictIdP(t, seed)

	type child struct {
		cmd   *exec.Cmd
		in    *os.File
		lines *bufio.Scanner
	}
	var children []child
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesRefreshOnce$")
		cmd.Env = append(os.Environ(),
			childEnv+"=1", childIdPEnv+"="+idp.URL(), childCAEnv+"="+string(idp.CertificatePEM()), childTableEnv+"="+table)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		r, w, err := os.Pipe()
		require.NoError(t, err)
		cmd.Stdin = r
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		r.Close()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		children = append(children, child{cmd, w, bufio.NewScanner(out)})
	}
	for _, c := range children {
		require.True(t, scanUntil(c.lines, "ready"))
	}
	for _, c := range children { // both go at once
		fmt.Fprintln(c.in, "go")
	}
	for i, c := range children {
		require.True(t, scanUntil(c.lines, "token "), "child %d printed no token", i)
		tok := strings.TrimPrefix(c.lines.Text(), "token ")
		user, err := idp.Verify(tok)
		require.NoError(t, err, "child %d holds an invalid token", i)
		require.Equal(t, grantMailbox, user)
		require.NoError(t, c.cmd.Wait())
	}
	require.Equal(t, 1, idp.Requests("refresh_token"), "two processes must refresh once between them")
	checkChain(t, idp, seed, first)
}

// scanUntil reads lines until one starts with prefix.
func scanUntil(s *bufio.Scanner, prefix string) bool {
	for s.Scan() {
		if strings.HasPrefix(s.Text(), prefix) {
			return true
		}
	}
	return false
}
