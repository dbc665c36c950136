//go:build interop && linux

package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// The OpenID peer's clients, one per client authentication method, and
// the resource indicators of the mail servers.
const (
	clientBasic   = "mo-basic"
	secretBasic   = "basic-secret-0123456789"
	clientPost    = "mo-post"
	secretPost    = "post-secret-0123456789"
	clientJWT     = "mo-jwt"
	clientPublic  = "mo-public"
	clientDovecot = "mo-dovecot"
	secretDovecot = "dovecot-secret-0123456789"

	resourceMail  = "imap://127.0.0.1" // opaque tokens, checked by introspection
	resourceRS256 = "urn:mailoauth:jwt:rs256"
	resourceES256 = "urn:mailoauth:jwt:es256"
	scopeMail     = "mail"
	domain        = "example.test"

	// childEnv carries, to the re-executed test binary, the settings of
	// the child process in the rotation case.
	childEnv = "MAILOAUTH_INTEROP_OIDC_CHILD"
)

// oidcWorld is the OpenID peer, Dovecot + Postfix checking its tokens by
// introspection (scope mail), a second Dovecot checking JWT access tokens
// itself, and the app's callback for the authorization code flow.
type oidcWorld struct {
	peer     *OIDCPeer
	peers    *Peers // introspection
	jwtPeers *Peers // local JWT validation
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	callback net.Listener // the app's redirect URL listens here
}

func newOIDCWorld(t *testing.T) *oidcWorld {
	t.Helper()
	w := &oidcWorld{}
	var err error
	if w.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if w.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if w.callback, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.callback.Close() })
	grants := []string{"client_credentials", "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}
	web := []string{w.callbackURL()}
	var users []map[string]string
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace"} {
		users = append(users, map[string]string{"sub": "u-" + u, "email": u + "@" + domain})
	}
	w.peer = StartOIDCPeer(t, map[string]any{
		"users":           users,
		"defaultResource": resourceMail,
		"resources": map[string]any{
			resourceMail:  map[string]any{"scope": "mail other"},
			resourceRS256: map[string]any{"scope": "mail other", "format": "jwt", "alg": "RS256", "typ": "JWT"},
			resourceES256: map[string]any{"scope": "mail other", "format": "jwt", "alg": "ES256", "typ": "JWT"},
		},
		"ttl":                map[string]int{"AccessToken": 3600, "ClientCredentials": 3600, "RefreshToken": 86400, "DeviceCode": 600},
		"deviceFlow":         map[string]int{"interval": 1},
		"rotateRefreshToken": true,
		"clients": []map[string]any{
			{"client_id": clientBasic, "client_secret": secretBasic, "token_endpoint_auth_method": "client_secret_basic",
				"grant_types": grants, "redirect_uris": web, "mailbox": "svc-basic@" + domain},
			{"client_id": clientPost, "client_secret": secretPost, "token_endpoint_auth_method": "client_secret_post",
				"grant_types": grants, "redirect_uris": web, "mailbox": "svc-post@" + domain},
			{"client_id": clientJWT, "token_endpoint_auth_method": "private_key_jwt",
				"jwks":        map[string]any{"keys": []any{JWK(&w.rsaKey.PublicKey, "c-rsa"), JWK(&w.ecKey.PublicKey, "c-ec")}},
				"grant_types": grants, "redirect_uris": web, "mailbox": "svc-jwt@" + domain},
			{"client_id": clientPublic, "token_endpoint_auth_method": "none", "application_type": "native",
				"grant_types": grants[1:], "redirect_uris": []string{"http://127.0.0.1/callback"}},
			{"client_id": clientDovecot, "client_secret": secretDovecot, "token_endpoint_auth_method": "client_secret_post",
				"grant_types": []string{}, "response_types": []string{}, "redirect_uris": []string{}, "introspect": true},
		},
	})
	w.peers = StartPeersWith(t, PeerOptions{OAuth2: IntrospectionSettings(w.peer.Issuer+"/token/introspection", clientDovecot, secretDovecot, scopeMail)})
	keys := w.peer.WriteValidationKeys(t, filepath.Join(w.peers.Dir, "jwt-keys"))
	w.jwtPeers = StartPeersWith(t, PeerOptions{IMAPOnly: true, OAuth2: LocalValidationSettings(keys, w.peer.Issuer, scopeMail)})
	return w
}

func (w *oidcWorld) callbackURL() string {
	return "http://" + w.callback.Addr().String() + "/oauth/callback"
}

// config is the oidc.Config of client for mailbox, on w's servers.
func (w *oidcWorld) config(client, mailbox string) oidc.Config {
	cfg := oidc.Config{
		Issuer:   w.peer.Issuer,
		ClientID: client,
		Scopes:   []string{scopeMail},
		Mailbox:  mailbox,
		SMTP:     provider.Server{Host: "127.0.0.1", Port: w.peers.Submission, Security: provider.StartTLS},
		IMAP:     provider.Server{Host: "127.0.0.1", Port: w.peers.IMAPS, Security: provider.ImplicitTLS},
	}
	switch client {
	case clientBasic:
		cfg.ClientSecret = secretBasic
	case clientPost:
		cfg.ClientSecret = secretPost
	case clientJWT:
		cfg.PrivateKey, cfg.KeyID = w.rsaKey, "c-rsa"
	}
	return cfg
}

func (w *oidcWorld) smtpOptions(debug *lockedBuffer) *smtpx.SenderOptions {
	return &smtpx.SenderOptions{Options: smtpx.Options{TLSConfig: w.peers.TLSConfig(), LocalName: "client.example.test", Debug: debug}}
}

// send sends one message from mb to "to" and waits until Dovecot has
// delivered it.
func (w *oidcWorld) send(t *testing.T, mb *provider.Mailbox, to, subject string, debug *lockedBuffer) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := countMaildir(w.peers.Maildir(to), "")
	msg := message(mb.Address, to, subject)
	sender := smtpx.NewSender(mb, w.smtpOptions(debug))
	require.NoError(t, sender.Send(ctx, smtpx.Envelope{From: mb.Address, To: []string{to}}, bytes.NewReader(msg)))
	require.NoError(t, sender.Close())
	waitFor(t, 10*time.Second, "the delivered message", func() bool { return countMaildir(w.peers.Maildir(to), "") == before+1 })
	return msg
}

// authorizeDevice runs cfg's device flow, approved at the peer as user,
// and saves the grant in store.
func (w *oidcWorld) authorizeDevice(t *testing.T, cfg oidc.Config, store tokenstore.Store, user string) *tokenstore.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	flow, err := oidc.NewDeviceFlow(ctx, cfg, store)
	require.NoError(t, err)
	rec, err := flow.Authorize(ctx, func(p authorize.DevicePrompt) error {
		require.Contains(t, p.VerificationURI, w.peer.Issuer)
		w.peer.ApproveDevice(t, p.UserCode, user) // the user, on another device; the flow polls next
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, rec.Token.RefreshToken, "the device grant carries a refresh token (offline_access, from the server's scopes_supported)")
	return rec
}

// readWithGrant has the app-only client sender send a message to cfg's
// mailbox and reads it with a Mailgate on the grant stored for cfg.
func (w *oidcWorld) readWithGrant(t *testing.T, cfg oidc.Config, store tokenstore.Store, sender string) {
	t.Helper()
	ctx := context.Background()
	app, err := oidc.ClientCredentials(ctx, w.config(sender, "svc-"+strings.TrimPrefix(sender, "mo-")+"@"+domain))
	require.NoError(t, err)
	sent := w.send(t, app, cfg.Mailbox, "to the grant of "+cfg.Mailbox, &lockedBuffer{})
	mb, err := oidc.Delegated(ctx, cfg, store)
	require.NoError(t, err)
	require.True(t, bytes.HasSuffix(receiveOne(t, w.peers, mb, &lockedBuffer{}), sent), "the Mailgate read the message sent")
}

// TestOIDC runs every case against one world: the peer and the servers
// start once. The client credentials cases run one after the other (two
// share a client, so a mailbox); every other case has mailboxes of its own
// and runs in parallel with the rest.
func TestOIDC(t *testing.T) {
	w := newOIDCWorld(t)
	ctx := context.Background()

	// Client credentials, every client authentication method, to both
	// submission servers, with both mechanisms; the message read back
	// with a Mailgate as the client's own mailbox.
	for _, c := range []struct {
		client, alg string
		postfix     bool
		mech        auth.Mechanism
	}{
		{clientBasic, "", false, auth.XOAUTH2},
		{clientPost, "", true, auth.OAUTHBEARER},
		{clientJWT, "RS256", false, auth.OAUTHBEARER},
		{clientJWT, "PS256", true, auth.XOAUTH2},
		{clientJWT, "ES256", true, auth.OAUTHBEARER},
	} {
		server := "dovecot-submission"
		if c.postfix {
			server = "postfix-submission"
		}
		client := c.client
		if c.alg != "" {
			client += "-" + c.alg
		}
		name := fmt.Sprintf("client credentials/%s/%s/%s", client, server, c.mech)
		t.Run(name, func(t *testing.T) {
			mailbox := "svc-" + strings.TrimPrefix(c.client, "mo-") + "@" + domain
			cfg := w.config(c.client, mailbox)
			cfg.Mechanism = c.mech
			if c.alg != "" {
				cfg.SigningAlgorithm = c.alg
			}
			if c.alg == "ES256" {
				cfg.PrivateKey, cfg.KeyID = w.ecKey, "c-ec"
			}
			if c.postfix {
				cfg.SMTP.Port = w.peers.PostfixSubmission
			}
			mb, err := oidc.ClientCredentials(ctx, cfg)
			require.NoError(t, err)
			debug := &lockedBuffer{}
			sent := w.send(t, mb, mailbox, "app-only "+strings.ReplaceAll(name, "/", " "), debug)
			require.Contains(t, debug.String(), "AUTH "+string(c.mech))
			got := receiveOne(t, w.peers, mb, debug)
			require.True(t, bytes.HasSuffix(got, sent), "the message read back ends with the bytes sent")
			tok, _ := mb.Tokens.Token(ctx)
			require.NotContains(t, debug.String(), tok.AccessToken)
		})
	}

	// Device authorization: a public client and a confidential one (the
	// latter authenticates at the device authorization endpoint too), to
	// a grant in a file store that a Mailgate reads with.
	for _, c := range []struct{ client, user string }{{clientPublic, "alice"}, {clientPost, "bob"}} {
		t.Run("device code/"+c.client, func(t *testing.T) {
			t.Parallel()
			mailbox := c.user + "@" + domain
			store, err := tokenstore.NewFile(t.TempDir())
			require.NoError(t, err)
			cfg := w.config(c.client, mailbox)
			w.authorizeDevice(t, cfg, store, mailbox)
			w.readWithGrant(t, cfg, store, clientBasic)
		})
	}

	// Authorization code + PKCE, through the app's callback, followed
	// headlessly; the callback checks iss (the peer announces it).
	t.Run("authorization code/"+clientBasic, func(t *testing.T) {
		t.Parallel()
		mailbox := "carol@" + domain
		store := tokenstore.NewMemory()
		cfg := w.config(clientBasic, mailbox)
		flow, err := oidc.NewAuthCodeFlow(ctx, cfg, store, w.callbackURL())
		require.NoError(t, err)
		require.True(t, flow.RequireIssuer, "the peer announces authorization_response_iss_parameter_supported")
		mux := http.NewServeMux()
		mux.Handle("/oauth/start", flow.StartHandler())
		mux.Handle("/oauth/callback", flow.CallbackHandler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(w.callback)
		defer srv.Close()
		status, page := Browser(t, "http://"+w.callback.Addr().String()+"/oauth/start")
		require.Equal(t, http.StatusOK, status, page)
		require.Contains(t, page, "Mailbox authorized")
		rec, err := store.Load(ctx, cfg.Key())
		require.NoError(t, err)
		require.NotEmpty(t, rec.Token.RefreshToken, "offline_access with prompt=consent gives a refresh token")
		w.readWithGrant(t, cfg, store, clientPost)
	})

	// Rotation across two processes sharing a file store: each refreshes
	// again and again; the peer revokes the whole grant when a rotated
	// refresh token is used twice, so a grant alive afterwards, and a
	// peer log without "already used", show that no refresh token was
	// ever redeemed twice.
	t.Run("rotation across two processes", func(t *testing.T) {
		t.Parallel()
		mailbox := "dave@" + domain
		dir := t.TempDir()
		store, err := tokenstore.NewFile(dir)
		require.NoError(t, err)
		cfg := w.config(clientPost, mailbox)
		first := w.authorizeDevice(t, cfg, store, mailbox)
		env := strings.Join([]string{w.peer.Issuer, dir, mailbox, strconv.Itoa(rotationRounds)}, "\n")
		var children []*exec.Cmd
		var outs []*lockedBuffer
		for range 2 {
			cmd := exec.Command(os.Args[0], "-test.run=^TestOIDCRotationChild$", "-test.count=1", "-test.v", "-test.timeout=120s")
			cmd.Env = append(os.Environ(), childEnv+"="+env)
			out := &lockedBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			require.NoError(t, cmd.Start())
			children, outs = append(children, cmd), append(outs, out)
		}
		for i, cmd := range children {
			require.NoError(t, cmd.Wait(), "child %d:\n%s", i, outs[i].String())
			require.Contains(t, outs[i].String(), "--- PASS: TestOIDCRotationChild", outs[i].String())
		}
		require.NotContains(t, w.peer.Log(), "already used", "a refresh token was redeemed twice")
		rec, err := store.Load(ctx, cfg.Key())
		require.NoError(t, err)
		require.NotEqual(t, first.Token.RefreshToken, rec.Token.RefreshToken, "the grant rotated")
		require.Greater(t, rec.Version, int64(rotationRounds), "the children saved their rotations")
		mb, err := oidc.Delegated(ctx, cfg, store)
		require.NoError(t, err, "the grant survived: no reuse was detected")
		c, err := imapx.Dial(ctx, mb, &imapx.Options{TLSConfig: w.peers.TLSConfig()})
		require.NoError(t, err)
		c.Close()
		t.Logf("two processes, %d rounds each: store version %d, no reuse", rotationRounds, rec.Version)
	})

	// A revoked grant: nothing is sent, and the diagnosis says to
	// authorize the mailbox again.
	t.Run("revoked grant", func(t *testing.T) {
		t.Parallel()
		mailbox := "erin@" + domain
		store := tokenstore.NewMemory()
		cfg := w.config(clientBasic, mailbox)
		w.authorizeDevice(t, cfg, store, mailbox)
		mb, err := oidc.Delegated(ctx, cfg, store)
		require.NoError(t, err)
		w.peer.RevokeGrants(t, mailbox)
		sender := smtpx.NewSender(mb, w.smtpOptions(&lockedBuffer{}))
		defer sender.Close()
		err = sender.Send(ctx, smtpx.Envelope{From: mailbox, To: []string{mailbox}}, bytes.NewReader(message(mailbox, mailbox, "never")))
		require.Error(t, err)
		d := provider.Diagnose(err)
		require.NotNil(t, d, "%v", err)
		require.Equal(t, provider.Reauthorize, d.Kind, "diagnosis: %v", d)
		require.Contains(t, d.Summary, "answered by the token endpoint")
		require.Zero(t, countMaildir(w.peers.Maildir(mailbox), ""))
		t.Logf("revoked grant: %v", d)
	})

	// A token for the wrong scope: Dovecot refuses it, and a fresh one,
	// over SMTP and IMAP and with both mechanisms: Misconfigured, with the
	// scope the server asks for, never a stale token.
	for _, c := range []struct {
		proto string
		mech  auth.Mechanism
	}{{"smtp", auth.XOAUTH2}, {"imap", auth.XOAUTH2}, {"imap", auth.OAUTHBEARER}} {
		t.Run("wrong scope/"+c.proto+"/"+string(c.mech), func(t *testing.T) {
			t.Parallel()
			cfg := w.config(clientBasic, "svc-basic@"+domain)
			cfg.Scopes = []string{"other"}
			cfg.Mechanism = c.mech
			mb, err := oidc.ClientCredentials(ctx, cfg)
			require.NoError(t, err, "the identity provider grants the scope; the mail server refuses it")
			if c.proto == "smtp" {
				_, err = smtpx.Dial(ctx, mb, &smtpx.Options{TLSConfig: w.peers.TLSConfig()})
			} else {
				_, err = imapx.Dial(ctx, mb, &imapx.Options{TLSConfig: w.peers.TLSConfig()})
			}
			require.Error(t, err)
			d := provider.Diagnose(err)
			require.NotNil(t, d, "%v", err)
			require.Equal(t, provider.Misconfigured, d.Kind, "diagnosis: %v", d)
			require.Contains(t, d.Fix, "scope")
			require.Contains(t, d.Fix, "resource indicator")
			if c.mech == auth.XOAUTH2 {
				require.Contains(t, d.Summary, `asks for the scope "mail"`, "Dovecot's XOAUTH2 challenge names the scope")
			}
			t.Logf("wrong scope over %s %s: %v", c.proto, c.mech, d)
		})
	}

	// A resource the identity provider does not know.
	t.Run("unknown resource", func(t *testing.T) {
		t.Parallel()
		cfg := w.config(clientBasic, "svc-basic@"+domain)
		cfg.Resources = []string{"imap://elsewhere.example"}
		_, err := oidc.ClientCredentials(ctx, cfg)
		d := provider.Diagnose(err)
		require.NotNil(t, d, "%v", err)
		require.Equal(t, provider.Misconfigured, d.Kind)
		require.Equal(t, "invalid_target", d.Code)
		t.Logf("unknown resource: %v", d)
	})

	// Dovecot validating JWT access tokens itself (introspection_mode =
	// local) with the peer's keys: RS256 and ES256 tokens log in with both
	// mechanisms; an opaque token, which it cannot read, is refused to a
	// fresh token too.
	for _, c := range []struct {
		resource string
		mech     auth.Mechanism
		ok       bool
	}{
		{resourceRS256, auth.XOAUTH2, true},
		{resourceES256, auth.OAUTHBEARER, true},
		{resourceMail, auth.XOAUTH2, false},
	} {
		t.Run("local JWT validation/"+c.resource+"/"+string(c.mech), func(t *testing.T) {
			t.Parallel()
			cfg := w.config(clientBasic, "svc-basic@"+domain)
			cfg.Resources = []string{c.resource}
			cfg.Mechanism = c.mech
			cfg.IMAP.Port = w.jwtPeers.IMAPS
			mb, err := oidc.ClientCredentials(ctx, cfg)
			require.NoError(t, err)
			tok, err := mb.Tokens.Token(ctx)
			require.NoError(t, err)
			require.Equal(t, c.ok, strings.Count(tok.AccessToken, ".") == 2, "JWT resources give JWTs, the default one opaque tokens")
			ic, err := imapx.Dial(ctx, mb, &imapx.Options{TLSConfig: w.jwtPeers.TLSConfig()})
			if c.ok {
				require.NoError(t, err)
				ic.Close()
				return
			}
			require.Error(t, err)
			d := provider.Diagnose(err)
			require.NotNil(t, d)
			require.Equal(t, provider.Misconfigured, d.Kind, "diagnosis: %v", d)
			require.Contains(t, w.jwtPeers.Log("dovecot"), "Local validation failed: Not a JWT token")
		})
	}
}

// rotationRounds is how often each child process refreshes the grant.
const rotationRounds = 8

// TestOIDCRotationChild is the child of the rotation case: a process of
// its own that refreshes a delegated grant from a file store again and
// again, with goroutines racing each round, while another child does the
// same.
func TestOIDCRotationChild(t *testing.T) {
	env := os.Getenv(childEnv)
	if env == "" {
		t.Skip("run by TestOIDC's rotation case")
	}
	parts := strings.Split(env, "\n")
	issuer, dir, mailbox := parts[0], parts[1], parts[2]
	rounds, _ := strconv.Atoi(parts[3])
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mb, err := oidc.Delegated(ctx, oidc.Config{
		Issuer: issuer, ClientID: clientPost, ClientSecret: secretPost, Scopes: []string{scopeMail},
		Mailbox: mailbox, Lazy: true,
	}, store)
	require.NoError(t, err)
	for i := range rounds {
		tok, err := mb.Tokens.Token(ctx)
		require.NoError(t, err, "round %d", i)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				mb.Tokens.Invalidate(tok)
				if _, err := mb.Tokens.Token(ctx); err != nil {
					t.Errorf("round %d: %v", i, err)
				}
			})
		}
		wg.Wait()
	}
}
