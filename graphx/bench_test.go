package graphx_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
)

// The Sender against the floor: a plain net/http loop that posts the same
// MIME to the same server's sendMail (base64, bearer token, one token
// fetched once, connections kept), with nothing of the Sender's checks,
// limits or retries. Compare msgs/s within one run:
//
//	go test -run '^$' -bench 'Sender|PlainHTTP' -benchtime 3000x ./graphx/
//
// On a shared machine the load moves between two benchmarks;
// BenchmarkSenderVsPlainHTTP runs both in turns, in rounds of 100
// messages each, and reports the ratio of their rates.
var benchWorkers = []int{1, 4}

var benchMsg = message("bench", "ann@example.net")

// runWorkers runs n workers until b.N messages are sent in all and
// reports messages per second.
func runWorkers(b *testing.B, n int, work func(next func() bool)) {
	var left atomic.Int64
	left.Store(int64(b.N))
	next := func() bool { return left.Add(-1) >= 0 }
	b.ResetTimer()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { work(next) })
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func benchEnv(b *testing.B) *env {
	e := newEnv(b, &graphxtest.Options{NoBodies: true})
	e.opts.Logger = nil
	e.opts.Clock = nil
	// Graph's 10,000 requests per 10 minutes would stop a long run
	// after 10,000 messages, for 10 minutes.
	e.opts.MaxRequests = -1
	return e
}

// senderLoop returns a worker that sends through a Sender.
func senderLoop(b *testing.B, e *env) func(next func() bool) {
	s := e.client(b, nil).Sender()
	env := graphx.Envelope{To: []string{"ann@example.net"}}
	return func(next func() bool) {
		for next() {
			if err := s.Send(context.Background(), env, bytesReader(benchMsg)); err != nil {
				b.Error(err)
				return
			}
		}
	}
}

// plainLoop returns a worker that posts with net/http and n connections.
func plainLoop(b *testing.B, e *env, n int) func(next func() bool) {
	tok, err := e.tokens.Token(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	hc := e.srv.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = n
	url := e.srv.URL() + "/v1.0/users/" + mailboxAddr + "/sendMail"
	return func(next func() bool) {
		for next() {
			req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(base64.StdEncoding.EncodeToString(benchMsg)))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Set("Content-Type", "text/plain")
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("HTTP %d", resp.StatusCode)
				return
			}
		}
	}
}

func BenchmarkSender(b *testing.B) {
	for _, n := range benchWorkers {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			runWorkers(b, n, senderLoop(b, benchEnv(b)))
		})
	}
}

func BenchmarkPlainHTTP(b *testing.B) {
	for _, n := range benchWorkers {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			runWorkers(b, n, plainLoop(b, benchEnv(b), n))
		})
	}
}

// BenchmarkSenderVsPlainHTTP sends b.N messages each way, in turns of
// 100, on one server, and reports both rates and sender/plain.
func BenchmarkSenderVsPlainHTTP(b *testing.B) {
	const turn = 100
	for _, n := range benchWorkers {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			e := benchEnv(b)
			loops := []func(func() bool){senderLoop(b, e), plainLoop(b, e, n)}
			var spent [2]time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; done += turn {
				k := min(turn, b.N-done)
				for i, loop := range loops {
					var left atomic.Int64
					left.Store(int64(k))
					start := time.Now()
					var wg sync.WaitGroup
					for range n {
						wg.Go(func() { loop(func() bool { return left.Add(-1) >= 0 }) })
					}
					wg.Wait()
					spent[i] += time.Since(start)
				}
			}
			b.StopTimer()
			sender, plain := float64(b.N)/spent[0].Seconds(), float64(b.N)/spent[1].Seconds()
			b.ReportMetric(sender, "sender-msgs/s")
			b.ReportMetric(plain, "plain-msgs/s")
			b.ReportMetric(sender/plain, "ratio")
		})
	}
}
