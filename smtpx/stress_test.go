package smtpx_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

var messageID = regexp.MustCompile(`Message-ID: <([^@>]+)@`)

// TestSender10000MessagesWithFaults sends 10,000 messages from 16 callers
// while the server answers 421 at random points and drops connections in
// the middle of DATA. Every message must be accepted exactly once (counted
// by the server) or come back to its caller as an error, and then not be
// accepted at all.
func TestSender10000MessagesWithFaults(t *testing.T) {
	const (
		total   = 10000
		callers = 16
	)
	e := newEnv(t)
	e.opts.Debug = nil // the transcript would be large; other tests cover it
	e.srv.SetRandomFaults(smtpxtest.RandomFaults{Seed: 42, Reply421AtMail: 0.01, Reply421AfterData: 0.01, DropInData: 0.005})
	s := e.sender(t, smtpx.SenderOptions{MaxConns: 8, RetryBackoff: retry.Backoff{Min: time.Microsecond, Max: 10 * time.Microsecond}})

	errs := make([]error, total)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := c; i < total; i += callers {
				id := fmt.Sprintf("s%05d", i)
				errs[i] = s.Send(context.Background(), smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(message(id)))
			}
		})
	}
	wg.Wait()

	count := make(map[string]int)
	for _, m := range e.srv.Messages() {
		id := messageID.FindSubmatch(m.Data)
		if id == nil {
			t.Fatalf("message without ID: %q", m.Data)
		}
		count[string(id[1])]++
	}
	failed := 0
	for i, err := range errs {
		id := fmt.Sprintf("s%05d", i)
		switch {
		case err == nil && count[id] != 1:
			t.Errorf("%s: success, but the server accepted it %d times", id, count[id])
		case err != nil && count[id] != 0:
			t.Errorf("%s: error %v, but the server accepted it %d times", id, err, count[id])
		case err != nil:
			failed++
			recordErr(err)
		}
	}
	st := e.srv.Stats()
	t.Logf("%d accepted, %d returned as errors; server: %+v", len(e.srv.Messages()), failed, st)
	if st.Closed421 == 0 || st.Dropped == 0 {
		t.Fatalf("no faults were injected: %+v", st)
	}
	if len(e.srv.Messages())+failed != total {
		t.Fatalf("%d accepted + %d errors != %d", len(e.srv.Messages()), failed, total)
	}
}
