package imapxtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailoauth/mailoauth/imapx/internal/linescan"
	"github.com/mailoauth/mailoauth/provider"
)

// startTLSHandshakeTimeout bounds the TLS handshake after STARTTLS.
const startTLSHandshakeTimeout = 10 * time.Second

// readChunk is the size of one read from the network.
const readChunk = 32 << 10

// conn is the connection go-imap's server talks through. It sits between
// the network (or TLS) and imapserver, and
//   - answers STARTTLS itself, so that it keeps seeing the dialogue in clear
//     after the upgrade,
//   - rewrites the capability lists (SASL-IR, IDLE, STARTTLS, AUTH=),
//   - counts commands and applies the faults: drops, throttling replies.
type conn struct {
	s        *Server
	raw      net.Conn
	internal bool        // the server's own read-back connection: no counting, no faults
	secure   atomic.Bool // TLS is up (always true for internal connections)
	user     atomic.Value
	expiry   atomic.Int64 // UnixNano of the session token's expiry; 0: unknown

	// Read side, used by imapserver's serve goroutine only.
	in      linescan.Scanner
	rbuf    []byte
	ready   bytes.Buffer
	readErr error
	inStop  bool // ignore the rest of what was read (after a fault or STARTTLS)
	upgrade bool // STARTTLS accepted: switch to TLS before reading on

	wmu       sync.Mutex // guards the fields below
	cur       net.Conn   // raw, or TLS over raw
	out       linescan.Scanner
	wbuf      []byte
	dropAfter int64 // bytes still written before the connection drops; -1: never
	dead      bool
}

func newConn(s *Server, raw net.Conn, internal bool) *conn {
	c := &conn{s: s, raw: raw, cur: raw, internal: internal, dropAfter: -1, rbuf: make([]byte, readChunk)}
	c.user.Store("")
	c.in.Line = c.clientLine
	c.in.Literal = func(p []byte) {
		if !c.inStop {
			c.ready.Write(p)
		}
	}
	c.out.Line = c.serverLine
	c.out.Literal = func(p []byte) { c.wbuf = append(c.wbuf, p...) }
	if internal {
		c.secure.Store(true)
	}
	return c
}

// useTLS makes the connection speak TLS from the first byte.
func (c *conn) useTLS(cfg *tls.Config) {
	c.cur = tls.Server(c.raw, cfg)
	c.secure.Store(true)
}

func (c *conn) Read(p []byte) (int, error) {
	for c.ready.Len() == 0 {
		if c.readErr != nil {
			return 0, c.readErr
		}
		c.wmu.Lock()
		cur := c.cur
		c.wmu.Unlock()
		n, err := cur.Read(c.rbuf)
		if n > 0 {
			c.inStop = false
			c.in.Write(c.rbuf[:n])
			if c.upgrade {
				c.upgrade = false
				if err := c.startTLS(); err != nil {
					c.readErr = err
					c.kill()
				}
				continue
			}
		}
		if err != nil {
			c.readErr = err
		}
	}
	return c.ready.Read(p)
}

// startTLS runs the server side of the TLS handshake after STARTTLS.
func (c *conn) startTLS() error {
	tc := tls.Server(c.raw, c.s.serverTLS)
	ctx, cancel := context.WithTimeout(context.Background(), startTLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	c.wmu.Lock()
	c.cur = tc
	c.wmu.Unlock()
	c.secure.Store(true)
	c.in = linescan.Scanner{Line: c.in.Line, Literal: c.in.Literal}
	return nil
}

// clientLine sees each line the client sends, before imapserver does.
func (c *conn) clientLine(seg []byte, first, whole bool) {
	if c.inStop {
		return
	}
	if first && whole && !c.internal {
		if tag, name, rest, ok := parseCommand(seg); ok {
			if c.command(tag, name, rest) {
				return
			}
		}
	}
	c.ready.Write(seg)
}

// command applies STARTTLS and the faults to one command; it reports
// whether the command was consumed here.
func (c *conn) command(tag, name, rest string) bool {
	s := c.s
	s.commands.Add(1)
	if c.tokenExpired() {
		s.expired.Add(1)
		c.writeDirect("* BYE " + ByeTokenExpired + "\r\n")
		c.stop()
		return true
	}
	switch {
	case name == "STARTTLS" && s.security == provider.StartTLS && !c.secure.Load():
		c.writeDirect(tag + " OK Begin TLS negotiation now\r\n")
		// Anything the client sent after STARTTLS in clear is dropped
		// (RFC 9051 §6.2.1: no STARTTLS command injection).
		c.inStop, c.upgrade = true, true
		return true
	case name == "AUTHENTICATE":
		s.authCommands.Add(1)
		if strings.Contains(strings.TrimSpace(rest), " ") {
			s.inlineResponses.Add(1)
		}
	}
	switch f := s.nextFault(name); f.kind {
	case faultThrottle:
		s.throttled.Add(1)
		c.writeDirect(fmt.Sprintf("%s BAD Request is throttled. Suggested Backoff Time: %d milliseconds\r\n", tag, f.backoff.Milliseconds()))
		c.stop()
		return true
	case faultDropNow:
		s.drops.Add(1)
		c.stop()
		return true
	case faultDropLater:
		s.drops.Add(1)
		c.wmu.Lock()
		if c.dropAfter < 0 || f.bytes < c.dropAfter {
			c.dropAfter = f.bytes
		}
		c.wmu.Unlock()
	}
	return false
}

// tokenExpired reports whether the session's token expired and the server
// ends such sessions.
func (c *conn) tokenExpired() bool {
	exp := c.expiry.Load()
	return c.s.expiring && exp != 0 && time.Now().UnixNano() >= exp
}

// stop closes the connection from the read side: imapserver sees the end
// of the stream.
func (c *conn) stop() {
	c.inStop = true
	c.readErr = io.EOF
	c.kill()
}

// parseCommand splits "tag NAME rest" from a client line; SASL responses,
// DONE and the like are not commands.
func parseCommand(seg []byte) (tag, name, rest string, ok bool) {
	line := string(linescan.Trim(seg))
	tag, after, found := strings.Cut(line, " ")
	if !found || tag == "" || tag == "*" || tag == "+" {
		return "", "", "", false
	}
	name, rest, _ = strings.Cut(after, " ")
	if name == "" {
		return "", "", "", false
	}
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return "", "", "", false
		}
	}
	name = strings.ToUpper(name)
	if name == "UID" {
		sub, more, _ := strings.Cut(rest, " ")
		name = "UID " + strings.ToUpper(sub)
		rest = more
	}
	return tag, name, rest, true
}

// writeDirect writes a reply of our own, bypassing imapserver.
func (c *conn) writeDirect(line string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.dead {
		_, _ = io.WriteString(c.cur, line)
	}
}

func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return 0, net.ErrClosed
	}
	c.wbuf = c.wbuf[:0]
	c.out.Write(p)
	data := c.wbuf
	drop := false
	if c.dropAfter >= 0 && int64(len(data)) >= c.dropAfter {
		data, drop = data[:c.dropAfter], true
	}
	if len(data) > 0 {
		if _, err := c.cur.Write(data); err != nil {
			return 0, err
		}
	}
	if c.dropAfter >= 0 {
		c.dropAfter -= int64(len(data))
	}
	if drop {
		c.killLocked()
		return 0, net.ErrClosed
	}
	return len(p), nil
}

// serverLine sees each line imapserver sends and rewrites capability lists:
// imapserver advertises SASL-IR and IDLE whatever its options say
// (TestUpstreamSASLIRAndIdleAlwaysAdvertised).
func (c *conn) serverLine(seg []byte, first, whole bool) {
	if first && whole {
		seg = c.rewriteCaps(seg)
	}
	c.wbuf = append(c.wbuf, seg...)
}

// rewriteCaps edits the capability list of a "* CAPABILITY" line or a
// "[CAPABILITY ...]" response code as the server's options say.
func (c *conn) rewriteCaps(seg []byte) []byte {
	const key = "CAPABILITY "
	i := bytes.Index(seg, []byte(key))
	if i < 0 || !(i == 2 && seg[0] == '*' || i > 0 && seg[i-1] == '[') {
		return seg
	}
	start := i + len(key)
	end := len(linescan.Trim(seg))
	if seg[i-1] == '[' {
		j := bytes.IndexByte(seg[start:], ']')
		if j < 0 {
			return seg
		}
		end = start + j
	}
	clear := c.s.security == provider.StartTLS && !c.secure.Load()
	var caps []string
	for _, f := range strings.Fields(string(seg[start:end])) {
		u := strings.ToUpper(f)
		switch {
		case u == "SASL-IR" && c.s.noSASLIR,
			u == "IDLE" && c.s.noIdle,
			strings.HasPrefix(u, "AUTH=") && clear:
			continue
		}
		caps = append(caps, f)
	}
	if clear {
		caps = append(caps, "STARTTLS", "LOGINDISABLED")
	}
	out := make([]byte, 0, len(seg)+32)
	out = append(out, seg[:start]...)
	out = append(out, strings.Join(caps, " ")...)
	out = append(out, seg[end:]...)
	return out
}

// kill closes the connection; imapserver's next read or write fails.
func (c *conn) kill() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.killLocked()
}

func (c *conn) killLocked() {
	if !c.dead {
		c.dead = true
		c.raw.Close()
	}
}

func (c *conn) Close() error {
	c.kill()
	c.s.forget(c)
	return nil
}

func (c *conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// listener hands imapserver our connections.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := newConn(l.s, raw, false)
	if l.s.security == provider.ImplicitTLS {
		c.useTLS(l.s.serverTLS)
	}
	l.s.track(c)
	return c, nil
}

// pipeListener serves the server's own read-back connections in memory.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial returns the client end of a new in-memory connection.
func (p *pipeListener) dial(s *Server) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- newConn(s, server, true):
		return client, nil
	case <-p.done:
		client.Close()
		server.Close()
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "imapxtest" }
