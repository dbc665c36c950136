package imapx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
)

const (
	benchMessages = 1000
	benchSize     = 20 << 10
)

// benchMessage returns a message of about benchSize bytes.
func benchMessage(i int) []byte {
	head := message(fmt.Sprint(i), "")
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	var b bytes.Buffer
	b.Write(head)
	for b.Len() < benchSize {
		b.WriteString(line)
	}
	return b.Bytes()
}

// fillInbox delivers benchMessages messages to user.
func fillInbox(b *testing.B, srv *imapxtest.Server, user string) {
	for i := 0; i < benchMessages; i++ {
		if _, err := srv.Deliver(user, "INBOX", benchMessage(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// inbox is a benchmark mailbox: filled once, and between runs checked and
// made unseen again over a connection of its own.
type inbox struct {
	user string
	c    *imapclient.Client
}

func newInbox(b *testing.B, srv *imapxtest.Server, user string) *inbox {
	fillInbox(b, srv, user)
	c, err := imapx.Dial(context.Background(), srv.Mailbox(user, nil), &imapx.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	return &inbox{user: user, c: c}
}

// reset checks that the run before marked every message \Seen (unless
// first) and clears \Seen for the next run.
func (in *inbox) reset(b *testing.B, first bool) {
	if !first {
		data, err := in.c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		if n := len(data.AllUIDs()); n != 0 {
			b.Fatalf("%d messages left unseen", n)
		}
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	if err := in.c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReceive compares the Mailgate with a raw go-imap loop doing the
// same work on 1,000 messages of 20 KB: connect and authenticate, find the
// unseen messages, fetch them (envelope, flags, size, date, body), read
// each body, and mark them \Seen.
func BenchmarkReceive(b *testing.B) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer srv.Close()
	mg := newInbox(b, srv, "mailgate@example.com")
	raw := newInbox(b, srv, "raw@example.com")

	b.Run("mailgate", func(b *testing.B) {
		b.SetBytes(benchMessages * benchSize)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			mg.reset(b, i == 0)
			b.StartTimer()
			if err := mailgateReceive(srv, mg.user); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		mg.reset(b, false)
	})

	b.Run("raw", func(b *testing.B) {
		b.SetBytes(benchMessages * benchSize)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			raw.reset(b, i == 0)
			b.StartTimer()
			if err := rawReceive(srv, raw.user, srv.TokenSource(raw.user)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		raw.reset(b, false)
	})

	// interleaved runs both in each iteration, in alternating order, so
	// that a change in the machine's load hits both alike, and reports the
	// ratio of their speeds (raw time / mailgate time: 1 is parity, above
	// 1 the mailgate is faster).
	b.Run("interleaved", func(b *testing.B) {
		var mgTime, rawTime time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			mg.reset(b, i == 0)
			raw.reset(b, i == 0)
			runtime.GC()
			b.StartTimer()
			first, second := &mgTime, &rawTime
			runFirst := func() error { return mailgateReceive(srv, mg.user) }
			runSecond := func() error { return rawReceive(srv, raw.user, srv.TokenSource(raw.user)) }
			if i%2 == 1 {
				first, second = second, first
				runFirst, runSecond = runSecond, runFirst
			}
			start := time.Now()
			if err := runFirst(); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := runSecond(); err != nil {
				b.Fatal(err)
			}
			*first += mid.Sub(start)
			*second += time.Since(mid)
		}
		b.StopTimer()
		mg.reset(b, false)
		raw.reset(b, false)
		b.ReportMetric(float64(mgTime.Microseconds())/1e3/float64(b.N), "mailgate-ms/op")
		b.ReportMetric(float64(rawTime.Microseconds())/1e3/float64(b.N), "raw-ms/op")
		b.ReportMetric(float64(rawTime)/float64(mgTime), "speed-ratio")
	})
}

// mailgateReceive runs a Mailgate until it handled benchMessages messages.
func mailgateReceive(srv *imapxtest.Server, user string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var handled atomic.Int64
	g := imapx.NewMailgate(srv.Mailbox(user, srv.TokenSource(user)), &imapx.MailgateOptions{Options: imapx.Options{TLSConfig: srv.TLSConfig()}},
		func(_ context.Context, m *imapx.Message) error {
			if _, err := io.Copy(io.Discard, m.Body); err != nil {
				return err
			}
			if handled.Add(1) == benchMessages {
				cancel()
			}
			return nil
		})
	if err := g.Run(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// rawReceive is the baseline: go-imap used directly, one SEARCH, one
// streaming FETCH, one STORE.
func rawReceive(srv *imapxtest.Server, user string, ts auth.TokenSource) error {
	c, err := imapclient.DialTLS(srv.Addr(), &imapclient.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		return err
	}
	defer c.Close()
	tok, err := ts.Token(context.Background())
	if err != nil {
		return err
	}
	if err := c.Authenticate(auth.NewClient(auth.XOAUTH2, user, tok.AccessToken)); err != nil {
		return err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		return err
	}
	uids := imap.UIDSetNum(data.AllUIDs()...)
	fetch := c.Fetch(uids, &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	for msg := fetch.Next(); msg != nil; msg = fetch.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
				if _, err := io.Copy(io.Discard, body.Literal); err != nil {
					return err
				}
			}
		}
	}
	if err := fetch.Close(); err != nil {
		return err
	}
	if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// BenchmarkIdleLatency measures the time from an APPEND by another client
// to the handler call, while the mailgate idles.
func BenchmarkIdleLatency(b *testing.B) {
	srv := imapxtest.New(nil)
	defer srv.Close()
	const u = "latency@example.com"
	srv.CreateFolder(u, "INBOX")
	called := make(chan struct{}, 1)
	g := imapx.NewMailgate(srv.Mailbox(u, nil), &imapx.MailgateOptions{Options: imapx.Options{TLSConfig: srv.TLSConfig()}},
		func(_ context.Context, m *imapx.Message) error {
			_, err := io.Copy(io.Discard, m.Body)
			called <- struct{}{}
			return err
		})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	c, err := imapx.Dial(context.Background(), srv.Mailbox(u, nil), &imapx.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := message("latency", strings.Repeat("x", 2000))
	waitIdle := func(n int) {
		for srv.Idles() < n {
			time.Sleep(time.Millisecond)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		waitIdle(i + 1) // the mailgate is back in IDLE
		b.StartTimer()
		cmd := c.Append("INBOX", int64(len(msg)), nil)
		if _, err := cmd.Write(msg); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		<-called
		b.StopTimer()
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
