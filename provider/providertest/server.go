package providertest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Defaults of a new Server.
const (
	// DefaultTokenLifetime is the lifetime of issued access tokens until SetTokenLifetime.
	DefaultTokenLifetime = time.Hour
	// DefaultRefreshTokenLifetime is how long a refresh token lives without use, as Entra's 90 days
	// (AADSTS700082 after it).
	DefaultRefreshTokenLifetime = 90 * 24 * time.Hour
	// DefaultDeviceInterval is the polling interval the device endpoints announce (Entra and Google: 5 s).
	DefaultDeviceInterval = 5 * time.Second
	// DefaultDeviceExpiry is how long a device code stays valid (Entra: 900 s).
	DefaultDeviceExpiry = 15 * time.Minute
	// authCodeLifetime is how long an authorization code can be redeemed (Entra: about 10 minutes).
	authCodeLifetime = 10 * time.Minute
	// assertionSkew is the clock skew allowed on a client assertion's nbf.
	assertionSkew = 5 * time.Minute
)

// Server is a local OAuth2 identity provider speaking the Entra ID v2.0 and Google wire formats over
// TLS on 127.0.0.1. Create it with New and stop it with Close. All methods are safe for concurrent use.
type Server struct {
	ts   *httptest.Server
	key  *rsa.PrivateKey
	kid  string
	done chan struct{}

	closeOnce sync.Once

	// mu guards everything below.
	mu             sync.Mutex
	plain          *httptest.Server
	closed         bool
	offset         time.Duration // server clock = time.Now() + offset
	tokenLifetime  time.Duration
	refreshTTL     time.Duration
	rotation       bool
	reuseDetection bool
	deviceInterval time.Duration
	deviceExpiry   time.Duration

	apps     []App
	tenants  map[string]bool
	user     string
	denial   *denial
	shared   map[string]map[string]bool // mailbox (lower case) -> users (lower case) who may open it
	consents map[string]bool            // Google: client|user that already consented offline access

	codes      map[string]*authCode
	devices    map[string]*deviceGrant // by device_code
	userCodes  map[string]*deviceGrant // by user_code
	userOrder  []string
	families   map[string]*family
	refresh    map[string]*refreshEntry
	issued     map[string]*issuedToken // access tokens by jti
	minted     int                     // access tokens signed so far
	revoked    map[string]bool         // revoked access-token jti
	assertions map[string]time.Time    // client-assertion jti -> its exp, to refuse reuse

	issuers    map[string]*Issuer   // external issuers by iss
	jobs       map[string]gitHubJob // GitHub Actions request token -> job
	identities []ManagedIdentity    // assigned to the machine the metadata endpoints serve
	idHeader   string               // App Service's IDENTITY_HEADER value
	signers    map[string]bool      // caller|service account (lower case) allowed to signJwt
	iamOff     bool                 // the IAM Service Account Credentials API is disabled

	failures      []pendingFailure
	introFailures []pendingFailure
	idFailures    []pendingFailure
	iamFailures   []pendingFailure
	grants        map[string]int // token requests per grant_type
	routes        map[string]int // requests per route name
}

// New starts a Server on a free loopback port. Call Close when done.
func New() *Server {
	key, err := parseSigningKey()
	if err != nil {
		panic("providertest: " + err.Error())
	}
	s := &Server{
		key:            key,
		kid:            randomHex(8),
		done:           make(chan struct{}),
		tokenLifetime:  DefaultTokenLifetime,
		refreshTTL:     DefaultRefreshTokenLifetime,
		rotation:       true,
		deviceInterval: DefaultDeviceInterval,
		deviceExpiry:   DefaultDeviceExpiry,
		tenants:        map[string]bool{DefaultTenant: true},
		shared:         map[string]map[string]bool{},
		consents:       map[string]bool{},
		codes:          map[string]*authCode{},
		devices:        map[string]*deviceGrant{},
		userCodes:      map[string]*deviceGrant{},
		families:       map[string]*family{},
		refresh:        map[string]*refreshEntry{},
		issued:         map[string]*issuedToken{},
		revoked:        map[string]bool{},
		assertions:     map[string]time.Time{},
		grants:         map[string]int{},
		routes:         map[string]int{},
		issuers:        map[string]*Issuer{},
		jobs:           map[string]gitHubJob{},
		idHeader:       randomHex(16),
		signers:        map[string]bool{},
	}
	s.ts = httptest.NewUnstartedServer(s.routesHandler())
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake noise from clients under test
	s.ts.StartTLS()
	return s
}

func parseSigningKey() (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(signingKeyPEM))
	if block == nil {
		return nil, fmt.Errorf("signing key: no PEM block")
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

// Close stops the server (and the plain-HTTP listener, if PlainURL started one). Requests held by a
// Failure's Delay are cut short. It is safe to call Close more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		s.closed = true
		plain := s.plain
		s.mu.Unlock()
		s.ts.Close()
		if plain != nil {
			plain.Close()
		}
	})
}

// URL is the server's base URL, "https://127.0.0.1:PORT": use it as Entra's authority host and as
// Google's base URL (token endpoint URL()+"/token").
func (s *Server) URL() string { return s.ts.URL }

// PlainURL starts (on first call) a second listener on another loopback port that serves the same
// routes over plain HTTP and returns its "http://127.0.0.1:PORT". It exists for peers that cannot be
// given a certificate authority, such as Dovecot's introspection client; Close stops it too. Client
// assertions must still name the https token endpoint in aud.
func (s *Server) PlainURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ""
	}
	if s.plain == nil {
		s.plain = httptest.NewServer(s.routesHandler())
	}
	return s.plain.URL
}

// Client returns an *http.Client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// CertPool returns a pool holding the server's certificate.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.ts.Certificate())
	return pool
}

// TLSConfig returns a client TLS configuration that trusts the server (TLS 1.2 or later).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
}

// CertificatePEM returns the server's certificate in PEM, for peers configured with a CA file.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// Now returns the server clock: the real time moved by every Advance. Token expiry, code and device
// expiry, assertion time windows and refresh-token inactivity all follow it.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return time.Now().Add(s.offset) }

// Sleep advances the server clock by d and returns at once (ctx.Err()
// when ctx is done), so that the Server is a retry.Clock: give it as the
// Clock of a configuration and the polling, backoff and expiry schedules
// of the code under test run in the server's time, without waiting.
func (s *Server) Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		s.Advance(d)
	}
	return ctx.Err()
}

// Advance moves the server clock by d (negative d moves it back).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// SetTokenLifetime sets the lifetime of access tokens issued from now on (default 1 h; expires_in
// in responses says the same). d <= 0 restores the default.
func (s *Server) SetTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = DefaultTokenLifetime
	}
	s.mu.Lock()
	s.tokenLifetime = d
	s.mu.Unlock()
}

// SetRefreshTokenLifetime sets how long an unused refresh token stays valid (default 90 days);
// after it the refresh_token grant answers invalid_grant AADSTS700082. d <= 0 restores the default.
func (s *Server) SetRefreshTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = DefaultRefreshTokenLifetime
	}
	s.mu.Lock()
	s.refreshTTL = d
	s.mu.Unlock()
}

// SetRotation says whether the Entra refresh_token grant returns a new refresh token (default on,
// as Entra does). Off, the same refresh token comes back. Google never rotates.
func (s *Server) SetRotation(on bool) {
	s.mu.Lock()
	s.rotation = on
	s.mu.Unlock()
}

// SetReuseDetection turns on strict-server behaviour (default off, as Entra, which keeps old refresh
// tokens valid): presenting a refresh token that was already rotated away revokes the whole family,
// including its newest refresh token and every access token issued from it, and answers
// invalid_grant AADSTS70008. It matters only with rotation on.
func (s *Server) SetReuseDetection(on bool) {
	s.mu.Lock()
	s.reuseDetection = on
	s.mu.Unlock()
}

// SetDeviceInterval sets the polling interval for device codes issued from now on (default 5 s).
// The "interval" field announces it rounded up to whole seconds (at least 1); the slow_down check
// uses d exactly, so a test can shrink it to poll quickly. d <= 0 restores the default.
func (s *Server) SetDeviceInterval(d time.Duration) {
	if d <= 0 {
		d = DefaultDeviceInterval
	}
	s.mu.Lock()
	s.deviceInterval = d
	s.mu.Unlock()
}

// SetDeviceExpiry sets how long device codes issued from now on stay valid (default 15 min).
// d <= 0 restores the default.
func (s *Server) SetDeviceExpiry(d time.Duration) {
	if d <= 0 {
		d = DefaultDeviceExpiry
	}
	s.mu.Lock()
	s.deviceExpiry = d
	s.mu.Unlock()
}

// routesHandler maps the Entra and Google paths to their handlers.
func (s *Server) routesHandler() http.Handler {
	mux := http.NewServeMux()
	// Entra ID v2.0.
	mux.HandleFunc("/{tenant}/oauth2/v2.0/authorize", s.handleEntraAuthorize)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", s.handleEntraToken)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/devicecode", s.handleEntraDeviceCode)
	mux.HandleFunc("/{tenant}/v2.0/adminconsent", s.handleAdminConsent)
	mux.HandleFunc("/{tenant}/v2.0/.well-known/openid-configuration", s.handleOpenIDConfiguration)
	mux.HandleFunc("/{tenant}/discovery/v2.0/keys", s.handleKeys)
	mux.HandleFunc("/devicelogin", s.handleDeviceLogin)
	mux.HandleFunc("/error", s.handleErrorLookup)
	// Google.
	mux.HandleFunc("/o/oauth2/v2/auth", s.handleGoogleAuthorize)
	mux.HandleFunc("/token", s.handleGoogleToken)
	mux.HandleFunc("/device/code", s.handleGoogleDeviceCode)
	mux.HandleFunc("/device", s.handleDeviceLogin)
	mux.HandleFunc("/revoke", s.handleGoogleRevoke)
	// RFC 7662.
	mux.HandleFunc("/introspect", s.handleIntrospect)
	// Platforms: Azure managed identity (instance metadata service, App Service), GitHub Actions'
	// OIDC token endpoint, Google's IAM Service Account Credentials API.
	mux.HandleFunc("/metadata/identity/oauth2/token", s.handleIMDS)
	mux.HandleFunc("/msi/token", s.handleAppService)
	mux.HandleFunc("/github/idtoken", s.handleGitHub)
	mux.HandleFunc("/v1/projects/{project}/serviceAccounts/{account}", s.handleIAM)
	return mux
}

// count records one request on a route.
func (s *Server) count(route string) {
	s.mu.Lock()
	s.routes[route]++
	s.mu.Unlock()
}

// Hits returns how many requests reached a route: "authorize", "token", "devicecode", "adminconsent",
// "introspect", "revoke" (Entra and Google routes counted together), "imds", "appservice", "github"
// and "signjwt", including those answered by an injected failure.
func (s *Server) Hits(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes[route]
}

// sleep waits d, or less if the request or the server ends first. It reports whether d elapsed.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newGUID returns a random version-4 UUID in its usual text form.
func newGUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
