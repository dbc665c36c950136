package smtpxtest

import (
	"bytes"
	"net"
	"strings"
	"sync"
)

// conn is one client connection: the raw TCP connection under any TLS,
// and the state that outlives go-smtp's sessions (which restart after
// STARTTLS).
type conn struct {
	net.Conn
	s         *Server
	id        int
	log       *commandLog
	closed    chan struct{}
	closeOnce sync.Once

	// Guarded by s.mu:
	closeAfterWrite bool   // close once the next reply is written (421)
	authed          bool   // AUTH succeeded
	user            string // the authenticated user
	slot            bool   // holds one of the SetMaxAuthConns slots
	msgs            int    // messages accepted on this connection
}

// Write sends a reply, then closes the connection if a 421 was due. Each
// go-smtp reply line is one Write (one TLS record under TLS).
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.s.mu.Lock()
	closing := c.closeAfterWrite
	c.s.mu.Unlock()
	if closing {
		c.Close()
	}
	return n, err
}

// Close closes the connection once and releases what it held.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.Conn.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		if c.authed {
			c.s.authedNow--
		}
		if c.slot {
			c.s.slotsUsed--
			c.slot = false
		}
		c.s.mu.Unlock()
		close(c.closed)
	})
	return nil
}

// closeAfterReplyLocked arranges the close that follows a 421.
func (c *conn) closeAfterReplyLocked() {
	c.closeAfterWrite = true
	c.s.stats.Closed421++
}

// oneConnListener hands one connection to go-smtp's Server.Serve, then
// blocks until that connection is closed, so that Serve returns.
type oneConnListener struct {
	conn   net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

// commandLog reads go-smtp's debug stream of one connection (what the
// server read and wrote, in order, as plaintext) and records the client's
// command lines. SASL continuation lines and message contents are skipped;
// AUTH keeps only its mechanism.
type commandLog struct {
	s       *Server
	c       *conn
	partial []byte
	inAuth  bool // after AUTH, until a reply other than 334
	inData  bool // after 354, until the lone "."
}

func (l *commandLog) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if l.inData && len(l.partial)+len(seg) > len(".\r") {
			// A message line: only its length matters, not its bytes.
			l.partial = append(l.partial[:0], "..."...)
		} else {
			l.partial = append(l.partial, seg...)
		}
		if i < 0 {
			break
		}
		if l.inData {
			l.inData = !bytes.Equal(bytes.TrimSuffix(l.partial, []byte("\r")), []byte("."))
		} else {
			l.line(strings.TrimSuffix(string(l.partial), "\r"))
		}
		l.partial = l.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (l *commandLog) line(line string) {
	if code, ok := replyCode(line); ok {
		if l.inAuth && code != 334 {
			l.inAuth = false
		}
		if code == 354 {
			l.inData = true
		}
		return
	}
	if l.inAuth {
		return // a SASL response: never logged
	}
	if verb, _, _ := strings.Cut(line, " "); strings.EqualFold(verb, "AUTH") {
		fields := strings.Fields(line)
		line = "AUTH"
		if len(fields) > 1 {
			line += " " + fields[1]
		}
		if len(fields) > 2 {
			line += " [redacted]"
		}
		l.inAuth = true
	}
	l.s.mu.Lock()
	l.s.commands = append(l.s.commands, Command{Conn: l.c.id, Line: line})
	l.s.mu.Unlock()
}

// replyCode parses the code of a reply line ("250-...", "354 ...").
func replyCode(line string) (int, bool) {
	if len(line) < 3 || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false
	}
	code := 0
	for _, c := range []byte(line[:3]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, true
}
