package auth_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
)

const (
	e2eUser  = "alice@example.com"
	e2eToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"
)

// e2eCase is one exchange run through a real client library and server.
type e2eCase struct {
	name    string
	mech    auth.Mechanism
	twoStep bool
	token   string
	// wantLines are the lines the client writes for AUTH/AUTHENTICATE,
	// with <ir> standing for the base64 initial response.
	wantLines []string
	wantOK    bool
	wantCE    string // the Status of the challenge the client keeps
}

// recorder keeps what the server's SASL exchange ended with.
type recorder struct {
	mu  sync.Mutex
	err error
	end bool
}

func (r *recorder) wrap(s sasl.Server) sasl.Server { return &recordingServer{s, r} }

func (r *recorder) result() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.end, r.err
}

type recordingServer struct {
	sasl.Server
	r *recorder
}

func (s *recordingServer) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := s.Server.Next(resp)
	if done || err != nil {
		s.r.mu.Lock()
		s.r.end, s.r.err = true, err
		s.r.mu.Unlock()
	}
	return ch, done, err
}

func newServerFor(mech auth.Mechanism, verify func(string, string) error) sasl.Server {
	if mech == auth.OAUTHBEARER {
		return auth.NewOAuthBearerServer(verify)
	}
	return auth.NewXOAUTH2Server(verify)
}

var errStale = errors.New("token is stale")

func verifyE2E(username, token string) error {
	if username != e2eUser || token != e2eToken {
		return errStale
	}
	return nil
}

// writeRecorder is a net.Conn that keeps what the client writes.
type writeRecorder struct {
	net.Conn
	read io.Reader // when set, reads come from here instead of Conn
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (w *writeRecorder) Read(p []byte) (int, error) {
	if w.read != nil {
		return w.read.Read(p)
	}
	return w.Conn.Read(p)
}

// hideCapability returns conn's input, line by line, with word removed.
func hideCapability(conn net.Conn, word string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if _, werr := io.WriteString(pw, strings.ReplaceAll(line, word, "")); werr != nil || err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// lines returns the client's lines from the first one starting with or
// containing prefix.
func (w *writeRecorder) lines(marker string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	all := strings.Split(strings.TrimSuffix(w.buf.String(), "\r\n"), "\r\n")
	for i, l := range all {
		if strings.Contains(l, marker) {
			return all[i:]
		}
	}
	return nil
}

func initialResponse(t *testing.T, mech auth.Mechanism, token string) string {
	t.Helper()
	_, ir, err := auth.NewClient(mech, e2eUser, token).Start()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(ir)
}

// --- SMTP (go-smtp v0.25.1 client and server) ---

type smtpBackend struct{ rec *recorder }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return smtpSession(b), nil }

type smtpSession struct{ rec *recorder }

func (smtpSession) Reset()                               {}
func (smtpSession) Logout() error                        { return nil }
func (smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (smtpSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (smtpSession) AuthMechanisms() []string             { return []string{"XOAUTH2", "OAUTHBEARER"} }
func (s smtpSession) Auth(mech string) (sasl.Server, error) {
	return s.rec.wrap(newServerFor(auth.Mechanism(mech), verifyE2E)), nil
}

func TestEndToEndSMTP(t *testing.T) {
	stale := "stale" + e2eToken
	tests := []e2eCase{
		{name: "XOAUTH2 with initial response", mech: auth.XOAUTH2, token: e2eToken,
			wantLines: []string{"AUTH XOAUTH2 <ir>"}, wantOK: true},
		{name: "XOAUTH2 two-step", mech: auth.XOAUTH2, twoStep: true, token: e2eToken,
			wantLines: []string{"AUTH XOAUTH2", "<ir>"}, wantOK: true},
		{name: "XOAUTH2 refused: empty line after the JSON challenge", mech: auth.XOAUTH2, token: stale,
			wantLines: []string{"AUTH XOAUTH2 <ir>", ""}, wantCE: "401"},
		{name: "XOAUTH2 two-step refused", mech: auth.XOAUTH2, twoStep: true, token: stale,
			wantLines: []string{"AUTH XOAUTH2", "<ir>", ""}, wantCE: "401"},
		{name: "OAUTHBEARER with initial response", mech: auth.OAUTHBEARER, token: e2eToken,
			wantLines: []string{"AUTH OAUTHBEARER <ir>"}, wantOK: true},
		{name: "OAUTHBEARER refused: AQ== after the JSON challenge", mech: auth.OAUTHBEARER, token: stale,
			wantLines: []string{"AUTH OAUTHBEARER <ir>", "AQ=="}, wantCE: "invalid_token"},
		{name: "OAUTHBEARER two-step refused", mech: auth.OAUTHBEARER, twoStep: true, token: stale,
			wantLines: []string{"AUTH OAUTHBEARER", "<ir>", "AQ=="}, wantCE: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := smtp.NewServer(smtpBackend{rec})
			srv.Domain = "localhost"
			srv.AllowInsecureAuth = true // loopback test only
			srv.ErrorLog = log.New(io.Discard, "", 0)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			w := &writeRecorder{Conn: conn}
			c := smtp.NewClient(w)
			defer c.Close()
			if err := c.Hello("localhost"); err != nil {
				t.Fatal(err)
			}
			sc := auth.NewClient(tt.mech, e2eUser, tt.token)
			if tt.twoStep {
				sc = auth.TwoStep(sc)
			}
			err = c.Auth(sc)
			checkE2E(t, tt, err, sc, rec)
			if !tt.wantOK {
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code != 454 || !strings.Contains(se.Message, "token refused") {
					t.Errorf("client error = %#v, want go-smtp's 454 carrying the refusal", err)
				}
			}
			ir := initialResponse(t, tt.mech, tt.token)
			got := w.lines("AUTH ")
			if len(got) > len(tt.wantLines) {
				got = got[:len(tt.wantLines)]
			}
			want := strings.ReplaceAll(strings.Join(tt.wantLines, "\n"), "<ir>", ir)
			if strings.Join(got, "\n") != want {
				t.Errorf("client wrote\n%q\nwant\n%q", got, strings.Split(want, "\n"))
			}
		})
	}
}

func checkE2E(t *testing.T, tt e2eCase, err error, sc sasl.Client, rec *recorder) {
	t.Helper()
	ended, serverErr := rec.result()
	if !ended {
		t.Fatal("the server's exchange did not end")
	}
	if tt.wantOK {
		if err != nil || serverErr != nil {
			t.Fatalf("client error %v, server error %v; want success", err, serverErr)
		}
		if auth.Challenge(sc) != nil {
			t.Error("Challenge set after success")
		}
		return
	}
	if err == nil {
		t.Fatal("authentication succeeded with a stale token")
	}
	if !errors.Is(serverErr, errStale) {
		t.Errorf("server error = %v, want one wrapping verify's error", serverErr)
	}
	if strings.Contains(serverErr.Error(), e2eToken) {
		t.Errorf("server error %q shows the token", serverErr)
	}
	ce := auth.Challenge(sc)
	if ce == nil || ce.Status != tt.wantCE {
		t.Errorf("Challenge = %v, want status %q", ce, tt.wantCE)
	}
}

// --- IMAP (go-imap v2 client and server) ---

type imapSession struct {
	imapserver.Session
	rec *recorder
}

func (s *imapSession) AuthenticateMechanisms() []string { return []string{"XOAUTH2", "OAUTHBEARER"} }

func (s *imapSession) Authenticate(mech string) (sasl.Server, error) {
	return s.rec.wrap(newServerFor(auth.Mechanism(mech), func(username, token string) error {
		if err := verifyE2E(username, token); err != nil {
			// imapserver finds an *imap.Error with errors.As.
			return errors.Join(err, imapserver.ErrAuthFailed)
		}
		return s.Session.Login(username, "password")
	})), nil
}

func TestEndToEndIMAP(t *testing.T) {
	stale := "stale" + e2eToken
	tests := []struct {
		e2eCase
		saslIR bool
	}{
		{e2eCase{name: "XOAUTH2 with SASL-IR", mech: auth.XOAUTH2, token: e2eToken,
			wantLines: []string{"AUTHENTICATE XOAUTH2 <ir>"}, wantOK: true}, true},
		{e2eCase{name: "XOAUTH2 without SASL-IR", mech: auth.XOAUTH2, token: e2eToken,
			wantLines: []string{"AUTHENTICATE XOAUTH2", "<ir>"}, wantOK: true}, false},
		// go-imap writes an empty response as "=", not as an empty line.
		{e2eCase{name: "XOAUTH2 refused", mech: auth.XOAUTH2, token: stale,
			wantLines: []string{"AUTHENTICATE XOAUTH2 <ir>", "="}, wantCE: "401"}, true},
		{e2eCase{name: "OAUTHBEARER without SASL-IR", mech: auth.OAUTHBEARER, token: e2eToken,
			wantLines: []string{"AUTHENTICATE OAUTHBEARER", "<ir>"}, wantOK: true}, false},
		{e2eCase{name: "OAUTHBEARER refused", mech: auth.OAUTHBEARER, token: stale,
			wantLines: []string{"AUTHENTICATE OAUTHBEARER <ir>", "AQ=="}, wantCE: "invalid_token"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := imapmemserver.New()
			mem.AddUser(imapmemserver.NewUser(e2eUser, "password"))
			rec := &recorder{}
			caps := imap.CapSet{imap.CapIMAP4rev1: {}}
			srv := imapserver.New(&imapserver.Options{
				NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
					return &imapSession{Session: mem.NewSession(), rec: rec}, nil, nil
				},
				Caps:         caps,
				InsecureAuth: true, // loopback test only
				Logger:       log.New(io.Discard, "", 0),
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			w := &writeRecorder{Conn: conn}
			if !tt.saslIR {
				// imapserver always advertises SASL-IR; hide it from the client.
				w.read = hideCapability(conn, " SASL-IR")
			}
			c := imapclient.New(w, nil)
			defer c.Close()
			sc := auth.NewClient(tt.mech, e2eUser, tt.token)
			err = c.Authenticate(sc)
			checkE2E(t, tt.e2eCase, err, sc, rec)
			if !tt.wantOK {
				var ie *imap.Error
				if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
					t.Errorf("client error = %v, want NO [AUTHENTICATIONFAILED]", err)
				}
			}
			ir := initialResponse(t, tt.mech, tt.token)
			got := w.lines("AUTHENTICATE ")
			if len(got) > len(tt.wantLines) {
				got = got[:len(tt.wantLines)]
			}
			if len(got) > 0 { // drop the tag
				_, got[0], _ = strings.Cut(got[0], " ")
			}
			want := strings.ReplaceAll(strings.Join(tt.wantLines, "\n"), "<ir>", ir)
			if strings.Join(got, "\n") != want {
				t.Errorf("client wrote\n%q\nwant\n%q", got, strings.Split(want, "\n"))
			}
		})
	}
}
