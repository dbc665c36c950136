package graphx_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
	"github.com/mailoauth/mailoauth/provider"
)

// clientFor returns a Client for the env's mailbox with Limits.
func (e *env) clientFor(t *testing.T, limits provider.Limits, change func(*graphx.Options)) *graphx.Client {
	t.Helper()
	mb := e.srv.Mailbox(mailboxAddr, e.tokens)
	mb.Limits = limits
	opts := e.opts
	if change != nil {
		change(&opts)
	}
	c, err := graphx.New(mb, &opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRequestsStayWithinFourPerMailbox runs senders and receivers of one
// mailbox at once against a server that answers 429 beyond 4 requests in
// flight: the Client never gets there.
func TestRequestsStayWithinFourPerMailbox(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetMaxConcurrent(graphx.DefaultMaxConcurrent)
	e.srv.SetDelay(3 * time.Millisecond)
	c := e.client(t, nil)
	s := c.Sender()
	deliver(t, e, "inbox", "a", 5)
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			for i := range 8 {
				var err error
				if w%3 == 0 {
					_, err = c.Delta(context.Background(), "inbox", "")
				} else {
					to := fmt.Sprintf("r%d-%d@example.net", w, i)
					err = s.Send(context.Background(), envelope(to), bytesReader(message("m", to)))
				}
				assert.NoError(t, recordErr(err))
			}
		})
	}
	wg.Wait()
	st := e.srv.Stats()
	t.Logf("most requests in flight: %d", st.MaxConcurrent)
	assert.LessOrEqual(t, st.MaxConcurrent, graphx.DefaultMaxConcurrent)
	assert.Zero(t, st.Throttled, "never over Graph's concurrency limit")
}

func TestMailboxLimitsCapConcurrency(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetDelay(2 * time.Millisecond)
	c := e.clientFor(t, provider.Limits{MaxConns: 1}, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				_, err := c.Delta(context.Background(), "inbox", "")
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, e.srv.Stats().MaxConcurrent)
}

func TestRequestWindowCapsRequests(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, func(o *graphx.Options) { o.MaxRequests = 5 }).Sender()
	start := e.clock.Now()
	for i := range 7 {
		require.NoError(t, send(t, s, envelope("ann@example.net"), message(fmt.Sprint(i), "ann@example.net")))
		if i < 5 {
			assert.Equal(t, start, e.clock.Now(), "request %d needs no wait", i+1)
		}
	}
	assert.GreaterOrEqual(t, e.clock.Now().Sub(start), graphx.RequestWindow, "the 6th waited for the window to move on")
	assert.Less(t, e.clock.Now().Sub(start), graphx.RequestWindow+time.Minute, "and not much longer")
	assert.Equal(t, 7, e.srv.Requests(graphxtest.RouteSendMail))
}

func TestMessagesPerMinuteFromMailboxLimits(t *testing.T) {
	e := newEnv(t, nil)
	s := e.clientFor(t, provider.Limits{MessagesPerMinute: 2}, nil).Sender()
	start := e.clock.Now()
	for i := range 3 {
		require.NoError(t, send(t, s, envelope("ann@example.net"), message(fmt.Sprint(i), "ann@example.net")))
	}
	assert.GreaterOrEqual(t, e.clock.Now().Sub(start), time.Minute)
}

func TestThrottlingPausesTheWholeMailbox(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, func(o *graphx.Options) { o.MaxRetries = -1 })
	s := c.Sender()
	e.srv.SetRetryAfter(30 * time.Second)
	e.srv.FailNext(graphxtest.RouteSendMail, 1, graphxtest.Throttle)
	start := e.clock.Now()
	err := send(t, s, envelope("ann@example.net"), message("m", "ann@example.net"))
	require.True(t, graphx.IsTemporary(err), "%v", err)
	assert.Equal(t, start, e.clock.Now(), "no retry, no wait")

	// Another request of the mailbox waits as Graph asked.
	_, err = c.Delta(context.Background(), "inbox", "")
	require.NoError(t, err)
	after := e.clock.Now()
	assert.GreaterOrEqual(t, after.Sub(start), 30*time.Second)
	// The pause is over: the next request waits nothing.
	_, err = c.Delta(context.Background(), "inbox", "")
	require.NoError(t, err)
	assert.Equal(t, after, e.clock.Now())
}
