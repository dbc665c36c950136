package smtpx_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/smtpx"
)

// The Sender against two baselines on the same loopback server: the floor
// (one raw go-smtp client per worker, authenticated once with a token
// fetched once, messages back to back) and the naive way (a new connection
// and a new token for every message). Compare msgs/s within one run:
//
//	go test -run '^$' -bench 'Sender|Floor|Naive' -benchtime 2000x ./smtpx/
var benchWorkers = []int{1, 4, 16}

var benchMsg = message("bench")

// runWorkers runs n workers until b.N messages are sent in all and
// reports messages per second.
func runWorkers(b *testing.B, n int, work func(w int, next func() bool)) {
	var left atomic.Int64
	left.Store(int64(b.N))
	next := func() bool { return left.Add(-1) >= 0 }
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() { work(w, next) })
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkSender(b *testing.B) {
	for _, n := range benchWorkers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			e := newEnv(b)
			e.opts.Debug, e.opts.Logger = nil, nil
			s := e.sender(b, smtpx.SenderOptions{MaxConns: n})
			env := smtpx.Envelope{To: []string{"a@example.net"}}
			runWorkers(b, n, func(_ int, next func() bool) {
				for next() {
					if err := s.Send(context.Background(), env, bytes.NewReader(benchMsg)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// rawClient dials and authenticates a plain go-smtp client with token.
func rawClient(b *testing.B, e *env, token string) *smtp.Client {
	c, err := smtp.DialStartTLS(e.srv.Addr(), e.srv.TLSConfig())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Auth(auth.NewClient(auth.XOAUTH2, testAddress, token)); err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkFloor(b *testing.B) {
	for _, n := range benchWorkers {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			e := newEnv(b)
			tok, err := e.tokens.Token(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			clients := make([]*smtp.Client, n)
			for i := range clients {
				clients[i] = rawClient(b, e, tok.AccessToken)
				defer clients[i].Close()
			}
			runWorkers(b, n, func(w int, next func() bool) {
				for next() {
					if err := clients[w].SendMail(testAddress, []string{"a@example.net"}, bytes.NewReader(benchMsg)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkNaive(b *testing.B) {
	for _, n := range benchWorkers {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			e := newEnv(b)
			var mu sync.Mutex
			freshToken := func() string {
				mu.Lock()
				defer mu.Unlock()
				tok, err := e.tokens.Token(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				e.tokens.Invalidate(tok) // the next message gets a new one
				return tok.AccessToken
			}
			runWorkers(b, n, func(_ int, next func() bool) {
				for next() {
					c := rawClient(b, e, freshToken())
					if err := c.SendMail(testAddress, []string{"a@example.net"}, bytes.NewReader(benchMsg)); err != nil {
						b.Error(err)
					}
					c.Quit()
				}
			})
		})
	}
}
