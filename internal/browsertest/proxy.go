package browsertest

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// refuser is the HTTP proxy the browser is given: it answers every request
// with 502 and records the host it was for. Chromium sends loopback traffic
// directly, bypassing any proxy, so only requests off loopback arrive here.
type refuser struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []string // host:port, in the order first asked for
}

func startRefuser() (*refuser, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &refuser{ln: ln}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// addr is the proxy's host:port.
func (r *refuser) addr() string { return r.ln.Addr().String() }

func (r *refuser) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.refuse(c)
		}()
	}
}

// refuse reads the request line ("CONNECT host:443 HTTP/1.1" or
// "GET http://host/path HTTP/1.1"), records its host and answers 502.
func (r *refuser) refuse(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return
	}
	host := fields[1] // CONNECT's target is host:port already
	if fields[0] != "CONNECT" {
		u, err := url.Parse(fields[1])
		if err != nil || u.Host == "" {
			return
		}
		host = u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	r.mu.Lock()
	if !slices.Contains(r.seen, host) {
		r.seen = append(r.seen, host)
	}
	r.mu.Unlock()
	body := fmt.Sprintf("browsertest: the browser may only reach loopback; refused %s\n", host)
	fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// hosts returns what was refused so far.
func (r *refuser) hosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// close stops the proxy and waits for its goroutines.
func (r *refuser) close() {
	r.ln.Close()
	r.wg.Wait()
}
