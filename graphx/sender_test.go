package graphx_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
	"github.com/mailoauth/mailoauth/provider"
)

func send(t *testing.T, s *graphx.Sender, env graphx.Envelope, msg []byte) error {
	t.Helper()
	return recordErr(s.Send(context.Background(), env, bytes.NewReader(msg)))
}

func TestSenderIsAProviderSender(t *testing.T) {
	var _ provider.Sender = (*graphx.Sender)(nil)
}

func TestSendMailPostsTheMIMEAsItIs(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	msg := message("m1", "ann@example.net", "bob@example.net")
	require.NoError(t, send(t, s, envelope("ann@example.net", "Bob@Example.net"), msg))

	sent := e.srv.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, graphxtest.RouteSendMail, sent[0].Via)
	assert.Equal(t, msg, sent[0].MIME, "Graph got the octets the caller wrote, nothing added")
	assert.Equal(t, mailboxAddr, sent[0].Mailbox)
	assert.ElementsMatch(t, []string{"ann@example.net", "bob@example.net"}, sent[0].Recipients)
	hdr := msg[:bytes.Index(msg, []byte("\r\n\r\n"))+4]
	for _, d := range e.srv.Deliveries("") {
		assert.Equal(t, string(hdr), string(d.Header), "%s sees the header the caller wrote", d.Recipient)
	}
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteSendMail))
	assert.Zero(t, e.srv.Stats().WithoutImmutableID)
}

func TestSendRefusesRecipientsTheEnvelopeLeavesOut(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	err := send(t, s, envelope("ann@example.net"), message("m1", "ann@example.net", "eve@example.net"))
	require.ErrorIs(t, err, graphx.ErrRecipients)
	assert.Contains(t, err.Error(), "eve@example.net")
	assert.Zero(t, e.srv.Requests(graphxtest.RouteAny), "nothing was sent")
}

func TestSendRefusesEnvelopeRecipientsTheHeaderLeavesOut(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	err := send(t, s, envelope("ann@example.net", "hidden@example.net"), message("m1", "ann@example.net"))
	require.ErrorIs(t, err, graphx.ErrRecipients)
	assert.Contains(t, err.Error(), "hidden@example.net")
	assert.Contains(t, err.Error(), "AddBcc")
	assert.Zero(t, e.srv.Requests(graphxtest.RouteAny), "nothing was sent")
}

func TestSendWithTheCallersBccField(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	msg := []byte("From: app@example.com\r\nTo: ann@example.net\r\nBcc: hidden@example.net\r\nSubject: x\r\n\r\nbody\r\n")
	require.NoError(t, send(t, s, envelope("ann@example.net", "hidden@example.net"), msg))
	sent := e.srv.Sent()
	require.Len(t, sent, 1)
	assert.ElementsMatch(t, []string{"ann@example.net", "hidden@example.net"}, sent[0].Recipients)
	assert.Equal(t, msg, sent[0].MIME)
}

func TestSendAddBccNamesOnlyTheEnvelopeOnlyRecipients(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, func(o *graphx.Options) { o.AddBcc = true }).Sender()
	msg := message("m1", "ann@example.net")
	require.NoError(t, send(t, s, envelope("ann@example.net", "x1@example.net", "x2@example.net"), msg))
	sent := e.srv.Sent()
	require.Len(t, sent, 1)
	assert.ElementsMatch(t, []string{"ann@example.net", "x1@example.net", "x2@example.net"}, sent[0].Recipients)
	assert.Equal(t, "Bcc: x1@example.net, x2@example.net\r\n"+string(msg), string(sent[0].MIME), "one field added, above the caller's")
	hdr := msg[:bytes.Index(msg, []byte("\r\n\r\n"))+4]
	ds := e.srv.Deliveries("")
	require.Len(t, ds, 3)
	for _, d := range ds {
		assert.Equal(t, string(hdr), string(d.Header), "%s sees only the caller's header", d.Recipient)
	}
}

func TestSendAsNeedsTheRight(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	msg := bytes.Replace(message("m1", "ann@example.net"), []byte("From: app@example.com"), []byte("From: Support <support@example.com>"), 1)
	env := graphx.Envelope{From: "support@example.com", To: []string{"ann@example.net"}}

	err := send(t, s, env, msg)
	var ge *graphx.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusForbidden, ge.Status)
	assert.Equal(t, "ErrorSendAsDenied", ge.Code)
	assert.False(t, ge.Temporary)
	r := ge.Reply()
	assert.Equal(t, provider.LayerGraph, r.Layer)
	assert.Equal(t, "ErrorSendAsDenied", r.Response)
	assert.Equal(t, 403, r.Code)

	e.srv.AllowSendAs(mailboxAddr, "support@example.com")
	require.NoError(t, send(t, s, env, msg))
	sent := e.srv.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, mailboxAddr, sent[0].Mailbox, "the request names the mailbox")
	assert.Equal(t, "support@example.com", sent[0].From, "the message names whom it is from")
}

func TestSendRefusesAnEnvelopeSenderGraphCannotUse(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	err := send(t, s, graphx.Envelope{From: "bounces@example.org", To: []string{"ann@example.net"}}, message("m1", "ann@example.net"))
	require.ErrorIs(t, err, provider.ErrInvalidAddress)
	assert.Contains(t, err.Error(), "bounces@example.org")
	assert.Zero(t, e.srv.Requests(graphxtest.RouteAny))
}

func TestSendRefusesBadInputWithoutARequest(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, func(o *graphx.Options) { o.MaxRecipients = 2 }).Sender()
	cases := map[string]struct {
		env graphx.Envelope
		msg []byte
	}{
		"no recipient":       {envelope(), message("m", "a@example.net")},
		"bad address":        {envelope("a@b\r\nBcc: x@y"), message("m", "a@example.net")},
		"too many":           {envelope("a@example.net", "b@example.net", "c@example.net"), message("m", "a@example.net", "b@example.net", "c@example.net")},
		"unreadable To":      {envelope("a@example.net"), []byte("To: <<<\r\n\r\nx")},
		"header line broken": {envelope("a@example.net"), []byte("To a@example.net\r\n\r\nx")},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var ge *graphx.Error
			require.ErrorAs(t, send(t, s, c.env, c.msg), &ge)
			assert.Equal(t, graphx.PhaseMessage, ge.Phase)
			assert.False(t, ge.Temporary)
		})
	}
	require.Error(t, recordErr(s.Send(context.Background(), envelope("a@example.net"), nil)))
	assert.Zero(t, e.srv.Requests(graphxtest.RouteAny))
}

func TestSendReplacesARefusedTokenOnce(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	e.srv.FailNext(graphxtest.RouteSendMail, 1, graphxtest.RejectToken)
	require.NoError(t, send(t, s, envelope("ann@example.net"), message("m1", "ann@example.net")))
	minted, invalidated := e.tokens.counts()
	assert.Equal(t, 2, minted)
	assert.Equal(t, 1, invalidated)
	assert.Equal(t, 2, e.srv.Requests(graphxtest.RouteSendMail))
	assert.Len(t, e.srv.Sent(), 1)
}

func TestSendReportsAFreshTokenRefusedToo(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	e.srv.FailNext(graphxtest.RouteSendMail, 5, graphxtest.RejectToken)
	err := send(t, s, envelope("ann@example.net"), message("m1", "ann@example.net"))
	var ge *graphx.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusUnauthorized, ge.Status)
	assert.Equal(t, "InvalidAuthenticationToken", ge.Code)
	assert.True(t, ge.Retried)
	assert.True(t, ge.Reply().Retried)
	assert.False(t, ge.Temporary)
	assert.Contains(t, err.Error(), "a fresh token was refused too")
	assert.Equal(t, 2, e.srv.Requests(graphxtest.RouteSendMail), "one fresh token, no more")
	assert.Empty(t, e.srv.Sent())
}

func TestSendWaitsOutThrottlingAsRetryAfterSays(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	e.srv.SetRetryAfter(7 * time.Second)
	e.srv.FailNext(graphxtest.RouteSendMail, 1, graphxtest.Throttle)
	e.srv.FailNext(graphxtest.RouteSendMail, 1, graphxtest.Unavailable)
	start := e.clock.Now()
	require.NoError(t, send(t, s, envelope("ann@example.net"), message("m1", "ann@example.net")))
	assert.GreaterOrEqual(t, e.clock.Now().Sub(start), 14*time.Second, "waited 7 s after the 429 and 7 s after the 503")
	assert.Len(t, e.srv.Sent(), 1)
	assert.Equal(t, 3, e.srv.Requests(graphxtest.RouteSendMail))
}

func TestSendGivesUpAfterMaxRetries(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, func(o *graphx.Options) { o.MaxRetries = 2 }).Sender()
	e.srv.FailNext(graphxtest.RouteSendMail, 10, graphxtest.Throttle)
	err := send(t, s, envelope("ann@example.net"), message("m1", "ann@example.net"))
	var ge *graphx.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusTooManyRequests, ge.Status)
	assert.True(t, ge.Temporary, "the caller may try later")
	assert.False(t, ge.Uncertain)
	assert.Equal(t, time.Second, ge.Wait)
	assert.Equal(t, 3, e.srv.Requests(graphxtest.RouteSendMail))
}

func TestSendNeverRepeatsARequestWhoseAnswerWasLost(t *testing.T) {
	for _, f := range []graphxtest.Fault{graphxtest.LoseAnswer, graphxtest.GatewayTimeout} {
		e := newEnv(t, nil)
		s := e.client(t, nil).Sender()
		e.srv.FailNext(graphxtest.RouteSendMail, 1, f)
		err := send(t, s, envelope("ann@example.net"), message("m1", "ann@example.net"))
		var ge *graphx.Error
		require.ErrorAs(t, err, &ge, "fault %d", f)
		assert.True(t, ge.Uncertain, "fault %d: %v", f, err)
		assert.False(t, ge.Temporary)
		assert.True(t, graphx.IsUncertain(err))
		assert.False(t, graphx.IsTemporary(err))
		assert.Contains(t, err.Error(), "may have accepted")
		assert.Len(t, e.srv.Sent(), 1, "the server did send it")
		assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteSendMail), "and it was not asked again")
	}
}

func TestSendReportsATokenSourceFailure(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, func(o *graphx.Options) { o.MaxRetries = -1 }).Sender()
	e.tokens.fail = errors.New("the grant was revoked")
	err := send(t, s, envelope("ann@example.net"), message("m1", "ann@example.net"))
	var ge *graphx.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, graphx.PhaseToken, ge.Phase)
	assert.Contains(t, err.Error(), "the grant was revoked")
	assert.Zero(t, e.srv.Requests(graphxtest.RouteAny))
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	e := newEnv(t, nil)
	mb := e.srv.Mailbox(mailboxAddr, e.tokens)
	for name, o := range map[string]*graphx.Options{
		"http":             {BaseURL: "http://graph.example"},
		"query":            {BaseURL: "https://graph.example/?x=1"},
		"insecure":         {TLSConfig: insecureConfig()},
		"chunk over 4 MiB": {ChunkSize: 5 << 20},
	} {
		_, err := graphx.New(mb, o)
		assert.Error(t, err, name)
	}
	_, err := graphx.New(nil, nil)
	assert.Error(t, err)
	_, err = graphx.New(&provider.Mailbox{Address: mailboxAddr}, nil)
	assert.Error(t, err, "no token source")
	s := graphx.NewSender(&provider.Mailbox{Address: "not an address", Tokens: e.tokens}, nil)
	assert.Error(t, s.Send(context.Background(), envelope("a@example.net"), strings.NewReader("x")))
}

func TestClosedClientRefusesWork(t *testing.T) {
	e := newEnv(t, nil)
	s := graphx.NewSender(e.srv.Mailbox(mailboxAddr, e.tokens), &e.opts)
	require.NoError(t, s.Close())
	err := s.Send(context.Background(), envelope("ann@example.net"), bytes.NewReader(message("m", "ann@example.net")))
	assert.ErrorIs(t, err, graphx.ErrClosed)
}
