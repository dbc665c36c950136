package imapxtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
)

// Replies of the test server.
var (
	errLoginDisabled = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Text: "LOGIN is disabled: use AUTHENTICATE XOAUTH2 or OAUTHBEARER",
	}
	errPrivacyRequired = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodePrivacyRequired,
		Text: "TLS is required to authenticate",
	}
	errAuthFailed = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeAuthenticationFailed,
		Text: "Authentication failed",
	}
	errAuthFailedExchange = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Text: "AUTHENTICATE failed.",
	}
	errMalformed = &imap.Error{
		Type: imap.StatusResponseTypeBad,
		Text: "Malformed SASL response",
	}
)

// errForcedFailure is what verify says while FailAuth is in effect.
var errForcedFailure = errors.New("imapxtest: AUTHENTICATE fails by request of the test")

// session is one connection's IMAP session: imapmemserver's, with our
// authentication, the IDLE faults and FETCH one message at a time.
type session struct {
	*imapmemserver.UserSession // nil until authenticated

	s    *Server
	ic   *imapserver.Conn
	c    *conn
	user string
}

var (
	_ imapserver.SessionIMAP4rev2 = (*session)(nil)
	_ imapserver.SessionSASL      = (*session)(nil)
)

func (sess *session) Close() error {
	if sess.UserSession != nil {
		return sess.UserSession.Close()
	}
	return nil
}

// Login serves only the server's own read-back connections.
func (sess *session) Login(username, password string) error {
	if !sess.c.internal {
		return errLoginDisabled
	}
	if password != sess.s.internalSecret {
		return imapserver.ErrAuthFailed
	}
	u := sess.s.lookupUser(username)
	if u == nil {
		return imapserver.ErrAuthFailed
	}
	sess.UserSession = imapmemserver.NewUserSession(u)
	sess.user = username
	return nil
}

// AuthenticateMechanisms implements imapserver.SessionSASL.
func (sess *session) AuthenticateMechanisms() []string {
	out := make([]string, len(sess.s.mechanisms))
	for i, m := range sess.s.mechanisms {
		out[i] = string(m)
	}
	return out
}

// Authenticate implements imapserver.SessionSASL: the bearer mechanisms of
// package auth, verified by the server's verify function. Their servers
// start with a nil challenge, which imapserver writes as "+ "; an empty
// one would go out as "+ =" (TestUpstreamEmptyChallengeIsEquals). TLS is
// checked here, not by imapserver, which cannot see it through our conn
// (TestUpstreamAuthOnlyOnATLSConnItself).
func (sess *session) Authenticate(mech string) (sasl.Server, error) {
	s := sess.s
	if !sess.c.secure.Load() && s.security != provider.Plaintext {
		return nil, errPrivacyRequired
	}
	m := auth.Mechanism(strings.ToUpper(mech))
	offered := false
	for _, o := range s.mechanisms {
		offered = offered || o == m
	}
	if !offered {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism"}
	}
	how, forced := s.takeAuthFailure()
	switch {
	case forced && how == FailLikeExchange:
		return &refuser{s: s}, nil
	case forced && (how == FailEchoing || how == FailEchoingBad):
		return &echoer{s: s, bad: how == FailEchoingBad}, nil
	}
	a := &authServer{sess: sess}
	verify := func(username, token string) error {
		if forced {
			return errForcedFailure
		}
		if err := s.verify(username, token); err != nil {
			return err
		}
		if username == "" {
			return errors.New("no user name (OAUTHBEARER needs an authorization identity)")
		}
		a.username = username
		a.expiry = s.issuedExpiry(token)
		return nil
	}
	if m == auth.OAUTHBEARER {
		a.inner = auth.NewOAuthBearerServer(verify)
	} else {
		a.inner = auth.NewXOAUTH2Server(verify)
	}
	return a, nil
}

// authServer turns the outcome of package auth's SASL server into the
// session's user and into IMAP replies: NO [AUTHENTICATIONFAILED] for a
// refused token, BAD for a malformed response.
type authServer struct {
	sess     *session
	inner    sasl.Server
	username string
	expiry   time.Time
}

func (a *authServer) Next(response []byte) ([]byte, bool, error) {
	s := a.sess.s
	challenge, done, err := a.inner.Next(response)
	if err != nil {
		s.authFailures.Add(1)
		if errors.Is(err, auth.ErrMalformedResponse) {
			return nil, false, errMalformed
		}
		return nil, false, errAuthFailed
	}
	if done {
		u := s.ensureUser(a.username)
		a.sess.UserSession = imapmemserver.NewUserSession(u)
		a.sess.user = a.username
		a.sess.c.user.Store(a.username)
		if !a.expiry.IsZero() {
			a.sess.c.expiry.Store(a.expiry.UnixNano())
		}
		s.auths.Add(1)
	}
	return challenge, done, nil
}

// refuser fails an exchange the way Exchange Online does: once it has the
// client's response, "NO AUTHENTICATE failed." without a challenge.
type refuser struct{ s *Server }

func (r *refuser) Next(response []byte) ([]byte, bool, error) {
	if response == nil {
		return nil, false, nil // ask for the response
	}
	r.s.authFailures.Add(1)
	return nil, false, errAuthFailedExchange
}

// echoer fails an exchange with a reply that quotes the client's response
// (FailEchoing, FailEchoingBad).
type echoer struct {
	s   *Server
	bad bool
}

func (e *echoer) Next(response []byte) ([]byte, bool, error) {
	if response == nil {
		return nil, false, nil // ask for the response
	}
	e.s.authFailures.Add(1)
	token := response
	if _, after, ok := bytes.Cut(response, []byte("auth=Bearer ")); ok {
		token, _, _ = bytes.Cut(after, []byte{0x01})
	}
	ie := &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeAuthenticationFailed,
		Text: fmt.Sprintf("Invalid credentials %s (response %s, token %s)",
			base64.StdEncoding.EncodeToString(response), response, token),
	}
	if e.bad {
		ie.Type, ie.Code = imap.StatusResponseTypeBad, ""
	}
	return nil, false, ie
}

// Idle counts IDLE commands and sends the BYE a test asked for.
func (sess *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s := sess.s
	s.idles.Add(1)
	if text, ok := s.takeByeOnIdle(); ok {
		s.byes.Add(1)
		return sess.ic.Bye(text)
	}
	if exp := sess.c.expiry.Load(); s.expiring && exp != 0 {
		// End the session when its token expires, even while it idles.
		t := time.AfterFunc(time.Until(time.Unix(0, exp)), func() {
			s.expired.Add(1)
			_ = sess.ic.Bye(ByeTokenExpired)
		})
		defer t.Stop()
	}
	return sess.idle(w, stop)
}

// idleRecheck is how often an idling session looks for updates queued in
// the instant before it started listening.
const idleRecheck = 50 * time.Millisecond

// idle writes the updates queued before the IDLE (imapmemserver's IDLE
// only reports updates made while it listens: v2.0.0-beta.8, no upstream
// issue, TestUpstreamIdleHoldsBackMailQueuedBeforeIt pins it; and the poll
// after FETCH, STORE and SEARCH holds back everything behind an EXPUNGE, as
// RFC 9051 §7.5.1 wants), then listens.
// It restarts the listening every idleRecheck, so an update queued just
// before listening began is not held back for long.
func (sess *session) idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		if err := sess.UserSession.Poll(w, true); err != nil {
			return err
		}
		round := make(chan struct{})
		t := time.AfterFunc(idleRecheck, func() { close(round) })
		done := make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-stop:
			case <-round:
			}
		}()
		err := sess.UserSession.Idle(w, done)
		<-done
		t.Stop()
		if err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		default:
		}
	}
}

// Fetch serves a UID FETCH of listed UIDs a few messages at a time:
// imapmemserver holds the mailbox lock while it writes, so Deliver and
// Messages wait for a few messages, not for the whole FETCH. Other sets
// ("*", sequence numbers) are served in one go.
func (sess *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	set, ok := numSet.(imap.UIDSet)
	var uids []imap.UID
	if ok {
		uids, ok = set.Nums()
	}
	if !ok {
		return sess.UserSession.Fetch(w, numSet, options)
	}
	for len(uids) > 0 {
		n := min(len(uids), fetchChunk)
		if err := sess.UserSession.Fetch(w, imap.UIDSetNum(uids[:n]...), options); err != nil {
			return err
		}
		uids = uids[n:]
	}
	return nil
}

// fetchChunk is how many messages a FETCH writes under one hold of the
// mailbox lock (imapmemserver walks the whole mailbox for each call, so
// one message at a time would be quadratic).
const fetchChunk = 32
