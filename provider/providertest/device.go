package providertest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Device grant states.
const (
	devicePending = iota
	deviceApproved
	deviceDeclined
	deviceRedeemed
)

// userCodeAlphabet avoids letters and digits people confuse.
const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// deviceGrant is one device authorization (RFC 8628).
type deviceGrant struct {
	deviceCode string
	userCode   string
	clientID   string
	scope      string
	expires    time.Time
	interval   time.Duration
	lastPoll   time.Time
	state      int
	user       string
}

// Errors of ApproveDevice and DeclineDevice.
var (
	ErrUnknownUserCode = errors.New("providertest: no such device user code")
	ErrDeviceExpired   = errors.New("providertest: device code expired")
	ErrDeviceDecided   = errors.New("providertest: device code already approved or declined")
	ErrNotSignedIn     = errors.New("providertest: no user signed in (call SignIn)")
)

func (s *Server) handleEntraDeviceCode(w http.ResponseWriter, r *http.Request) {
	s.handleDeviceCode(w, r, false)
}

func (s *Server) handleGoogleDeviceCode(w http.ResponseWriter, r *http.Request) {
	s.handleDeviceCode(w, r, true)
}

// handleDeviceCode starts a device authorization (Entra /devicecode, Google /device/code).
func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request, google bool) {
	s.count("devicecode")
	if r.Method != http.MethodPost {
		s.writeTokenError(w, r, google, &tokenError{err: errInvalidRequest, code: 900561,
			desc:    "The endpoint only accepts POST requests. Received a " + r.Method + " request.",
			gStatus: http.StatusMethodNotAllowed, gDesc: "Method Not Allowed"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.writeTokenError(w, r, google, errMalformedGrant())
		return
	}
	clientID, scope := readClientCred(r).id, r.PostForm.Get("scope")
	s.mu.Lock()
	g, terr := s.startDeviceLocked(google, r.PathValue("tenant"), clientID, scope)
	s.mu.Unlock()
	if terr != nil {
		s.writeTokenError(w, r, google, terr)
		return
	}
	expiresIn := int(g.expires.Sub(s.Now()).Round(time.Second) / time.Second)
	interval := int((g.interval + time.Second - 1) / time.Second)
	if google {
		writeJSON(w, http.StatusOK, map[string]any{"device_code": g.deviceCode, "user_code": g.userCode,
			"expires_in": expiresIn, "interval": interval, "verification_url": s.URL() + "/device"})
		return
	}
	verify := s.URL() + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{"user_code": g.userCode, "device_code": g.deviceCode,
		"verification_uri": verify, "expires_in": expiresIn, "interval": interval,
		"message": fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.",
			verify, g.userCode)})
}

func (s *Server) startDeviceLocked(google bool, tenant, clientID, scope string) (*deviceGrant, *tokenError) {
	if google {
		if clientID == "" {
			return nil, errMissingParam("client_id")
		}
		if _, ok := s.appLocked(clientID); !ok {
			return nil, errUnknownClient(clientID, "")
		}
		if scope == "" {
			return nil, errMissingParam("scope")
		}
		var bad []string
		for _, sc := range strings.Fields(scope) {
			if !slices.Contains(googleDeviceScopes, sc) {
				bad = append(bad, sc)
			}
		}
		if len(bad) > 0 {
			return nil, &tokenError{err: errInvalidScope,
				gDesc: "Some requested scopes were invalid. {invalid=[" + strings.Join(bad, ", ") + "]}"}
		}
	} else {
		if _, terr := s.entraAppLocked(tenant, clientID); terr != nil {
			return nil, terr
		}
		if _, terr := parseEntraScopes(scope); terr != nil {
			return nil, terr
		}
	}
	g := &deviceGrant{deviceCode: randomB64(48), userCode: s.newUserCodeLocked(google), clientID: clientID,
		scope: scope, expires: s.nowLocked().Add(s.deviceExpiry), interval: s.deviceInterval}
	s.devices[g.deviceCode] = g
	s.userCodes[g.userCode] = g
	s.userOrder = append(s.userOrder, g.userCode)
	return g, nil
}

// newUserCodeLocked returns an unused user code: 9 characters (Entra) or XXXX-XXXX (Google).
func (s *Server) newUserCodeLocked(google bool) string {
	for {
		b := make([]byte, 9)
		if _, err := rand.Read(b); err != nil {
			panic(err)
		}
		for i := range b {
			b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
		}
		code := string(b)
		if google {
			code = code[:4] + "-" + code[4:8]
		}
		if s.userCodes[code] == nil {
			return code
		}
	}
}

// pollSlack is how much sooner than the interval a poll may come without slow_down: a client polling
// on a ticker sees its previous request's round trip (a TLS handshake, say) shorten the gap.
const pollSlack = 500 * time.Millisecond

// pollDeviceLocked applies the device_code grant's rules: expired_token by the server clock, slow_down
// when polled sooner than the interval (less pollSlack, at most half of it) after the previous poll,
// then the grant's state.
func (s *Server) pollDeviceLocked(deviceCode, clientID string) (*deviceGrant, *tokenError) {
	if deviceCode == "" {
		return nil, errMissingParam("device_code")
	}
	g := s.devices[deviceCode]
	if g == nil {
		return nil, errDeviceUnknown()
	}
	if g.clientID != clientID {
		return nil, errGrantOtherClient()
	}
	now := s.nowLocked()
	if !now.Before(g.expires) {
		return nil, errDeviceExpired()
	}
	last := g.lastPoll
	g.lastPoll = now
	if !last.IsZero() && now.Sub(last) < g.interval-min(pollSlack, g.interval/2) {
		return nil, errDeviceSlowDown()
	}
	switch g.state {
	case devicePending:
		return nil, errDevicePending()
	case deviceDeclined:
		return nil, errDeviceDeclined()
	case deviceRedeemed:
		return nil, errDeviceRedeemed()
	}
	g.state = deviceRedeemed
	return g, nil
}

// ApproveDevice approves a device code as the signed-in user: the next poll gets tokens. userCode is
// matched ignoring case and dashes.
func (s *Server) ApproveDevice(userCode string) error {
	return s.decideDevice(userCode, deviceApproved)
}

// DeclineDevice declines a device code: polls answer authorization_declined (Google: access_denied).
func (s *Server) DeclineDevice(userCode string) error {
	return s.decideDevice(userCode, deviceDeclined)
}

func (s *Server) decideDevice(userCode string, state int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *deviceGrant
	norm := func(c string) string { return strings.ToUpper(strings.ReplaceAll(c, "-", "")) }
	for code, d := range s.userCodes {
		if norm(code) == norm(userCode) {
			g = d
			break
		}
	}
	switch {
	case g == nil:
		return ErrUnknownUserCode
	case !s.nowLocked().Before(g.expires):
		return ErrDeviceExpired
	case g.state != devicePending:
		return ErrDeviceDecided
	case state == deviceApproved && s.user == "":
		return ErrNotSignedIn
	}
	g.state, g.user = state, s.user
	return nil
}

// DeviceCodes returns the user codes issued so far, oldest first.
func (s *Server) DeviceCodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.userOrder)
}

// handleDeviceLogin is the verification page (Entra /devicelogin, Google /device): informational
// only; tests approve with ApproveDevice.
func (s *Server) handleDeviceLogin(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!DOCTYPE html><html><body><h1>Enter code</h1><p>providertest: approve with Server.ApproveDevice.</p></body></html>\n")
}
