package smtpx

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// expired is a deadline in the past: it makes every pending and future I/O
// on a connection fail at once.
var expired = time.Unix(1, 0)

// ctxConn lets a context bound the I/O of go-smtp's client. go-smtp sets
// its own deadline before each command and clears it afterwards; ctxConn
// keeps the earlier of that deadline and the bound context's, and expires
// the connection when the context is cancelled.
type ctxConn struct {
	net.Conn

	mu        sync.Mutex // guards the fields below
	read      time.Time  // deadline go-smtp or crypto/tls asked for
	write     time.Time
	limit     time.Time // the bound context's deadline; zero: none
	cancelled bool      // the bound context is done
	gen       uint64    // incremented at every bind and release

	writeFailed atomic.Bool // a Write failed: the peer cannot have the whole message

	// tap, when set, gets the plaintext bytes in both directions (the
	// transcript before STARTTLS, which go-smtp does not show). Only the
	// goroutine that drives the connection touches it.
	tap io.Writer
}

// bind makes ctx bound every I/O until release is called.
func (c *ctxConn) bind(ctx context.Context) (release func()) {
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.limit, _ = ctx.Deadline()
	c.cancelled = ctx.Err() != nil
	c.applyLocked()
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == gen {
			c.cancelled = true
			c.applyLocked()
		}
	})
	return func() {
		stop()
		c.mu.Lock()
		c.gen++
		c.limit = time.Time{}
		c.cancelled = false
		c.applyLocked()
		c.mu.Unlock()
	}
}

// effective combines a requested deadline with the context's.
func (c *ctxConn) effective(t time.Time) time.Time {
	switch {
	case c.cancelled:
		return expired
	case c.limit.IsZero():
		return t
	case t.IsZero() || c.limit.Before(t):
		return c.limit
	}
	return t
}

func (c *ctxConn) applyLocked() {
	_ = c.Conn.SetReadDeadline(c.effective(c.read))
	_ = c.Conn.SetWriteDeadline(c.effective(c.write))
}

func (c *ctxConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read, c.write = t, t
	return c.Conn.SetDeadline(c.effective(t))
}

func (c *ctxConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = t
	return c.Conn.SetReadDeadline(c.effective(t))
}

func (c *ctxConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write = t
	return c.Conn.SetWriteDeadline(c.effective(t))
}

func (c *ctxConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.tap != nil && n > 0 {
		_, _ = c.tap.Write(p[:n])
	}
	return n, err
}

func (c *ctxConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.writeFailed.Store(true)
	}
	if c.tap != nil && n > 0 {
		_, _ = c.tap.Write(p[:n])
	}
	return n, err
}
