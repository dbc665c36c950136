package graphx_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
)

var messageID = regexp.MustCompile(`Message-ID: <([^@>]+)@`)

// outcome checks each send against what the server accepted: a success
// was accepted once, a failure that is not uncertain not at all, an
// uncertain one at most once; and every acceptance whose answer was lost
// came back uncertain.
func outcome(t *testing.T, e *env, errs []error, name func(int) string) (failed, uncertain int) {
	t.Helper()
	count := map[string]int{}
	for _, m := range e.srv.Sent() {
		id := messageID.FindSubmatch(m.MIME)
		require.NotNil(t, id, "a sent message without its ID")
		count[string(id[1])]++
	}
	acceptedUncertain := 0
	for i, err := range errs {
		id := name(i)
		switch {
		case err == nil:
			assert.Equal(t, 1, count[id], "%s: success, accepted %d times", id, count[id])
		case graphx.IsUncertain(err):
			uncertain++
			assert.LessOrEqual(t, count[id], 1, "%s: uncertain, accepted %d times", id, count[id])
			acceptedUncertain += count[id]
		default:
			failed++
			assert.Zero(t, count[id], "%s: error %v, yet accepted", id, err)
		}
		recordErr(err)
	}
	st := e.srv.Stats()
	assert.Equal(t, st.LostAnswers, acceptedUncertain, "each acceptance whose answer was lost is reported uncertain, and only those")
	return failed, uncertain
}

// TestSender1000SendsUnderFaults sends 1,000 messages from 8 callers while
// Graph throttles (429, 503), drops connections before it handles a
// request, and loses answers after it sent the message (dropped, or a
// 504). Each message is accepted once, or comes back to its caller: as
// uncertain exactly when the server may have accepted it.
func TestSender1000SendsUnderFaults(t *testing.T) {
	const total, callers = 1000, 8
	e := newEnv(t, nil)
	e.opts.Logger = nil
	e.srv.SetRandomFaults(graphxtest.RandomFaults{Seed: 7, Throttle: 0.04, Unavailable: 0.02, Drop: 0.02, LoseAnswer: 0.015, GatewayTimeout: 0.005})
	s := e.client(t, nil).Sender()
	name := func(i int) string { return fmt.Sprintf("s%04d", i) }

	errs := make([]error, total)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := c; i < total; i += callers {
				to := fmt.Sprintf("u%d@example.net", i%17)
				errs[i] = s.Send(context.Background(), envelope(to), bytesReader(message(name(i), to)))
			}
		})
	}
	wg.Wait()
	failed, uncertain := outcome(t, e, errs, name)
	st := e.srv.Stats()
	t.Logf("%d accepted, %d uncertain, %d other errors; server: %+v", len(e.srv.Sent()), uncertain, failed, st)
	require.Positive(t, st.Throttled)
	require.Positive(t, st.Unavailable)
	require.Positive(t, st.Dropped)
	require.Positive(t, st.LostAnswers)
	assert.LessOrEqual(t, st.MaxConcurrent, graphx.DefaultMaxConcurrent)
}

// TestSenderLargeMessagesUnderFaults sends messages through drafts and
// upload sessions while every step after the draft's creation may fail:
// each is sent once or comes back, and no draft is left behind by a send
// that did not happen. (A lost answer to the creation itself leaves a
// draft the client never learned of: Sender documents it.)
func TestSenderLargeMessagesUnderFaults(t *testing.T) {
	const total = 8
	e := newEnv(t, &graphxtest.Options{NoBodies: true})
	e.opts.Logger = nil
	e.srv.SetRandomFaults(graphxtest.RandomFaults{Seed: 3, Throttle: 0.1, Unavailable: 0.05, Drop: 0.08, LoseAnswer: 0.12,
		Routes: []graphxtest.Route{graphxtest.RouteAttachment, graphxtest.RouteUploadSession, graphxtest.RouteUpload, graphxtest.RouteSend, graphxtest.RouteDelete}})
	s := e.client(t, func(o *graphx.Options) { o.SendMailLimit = 64 << 10; o.MaxRetries = 5 }).Sender()
	atts := []attachment{{"a.bin", 3<<20 + 11}, {"b.bin", 20 << 10}}
	errs := make([]error, total)
	var wg sync.WaitGroup
	for c := range 2 {
		wg.Go(func() {
			for i := c; i < total; i += 2 {
				errs[i] = s.Send(context.Background(), envelope("ann@example.net"), mixed("ann@example.net", atts))
			}
		})
	}
	wg.Wait()
	sent := e.srv.Sent()
	uncertain, failed := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
		case graphx.IsUncertain(err):
			uncertain++
		default:
			failed++
		}
		recordErr(err)
	}
	successes := total - uncertain - failed
	assert.GreaterOrEqual(t, len(sent), successes, "every success was sent")
	assert.LessOrEqual(t, len(sent), successes+uncertain, "nothing sent that was reported as not sent")
	for _, m := range sent {
		checkAttachments(t, m, atts, map[string]bool{"a.bin": true}, 0) // b.bin fits in the draft
	}
	drafts, err := e.srv.Messages(mailboxAddr, "drafts")
	require.NoError(t, err)
	assert.LessOrEqual(t, len(drafts), uncertain, "drafts stay only after an uncertain send")
	t.Logf("%d sent, %d uncertain, %d failed, %d drafts left; server: %+v", len(sent), uncertain, failed, len(drafts), e.srv.Stats())
}
