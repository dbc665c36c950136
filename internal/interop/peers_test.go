//go:build interop && linux

package interop

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestPeersStart checks the harness itself: both servers greet over TLS.
func TestPeersStart(t *testing.T) {
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"active": false})
	}))
	defer idp.Close()
	p := StartPeers(t, idp.URL+"/introspect")
	c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.IMAPS), p.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAPS greeting %q", line)
	}
}
