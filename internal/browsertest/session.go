package browsertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
)

// newSession asks ChromeDriver for a session in the browser at path.
func (b *Browser) newSession(path string) error {
	args := append(flags[:len(flags):len(flags)],
		"--user-data-dir="+filepath.Join(b.dir, "profile"),
		"--proxy-server=http://"+b.proxy.addr())
	caps := map[string]any{
		"browserName":      "chrome",
		"pageLoadStrategy": "normal",
		"timeouts": map[string]int64{
			"implicit": 0, // elements are waited for here, by Timeout
			"pageLoad": pageLoadTimeout.Milliseconds(),
			"script":   DefaultTimeout.Milliseconds(),
		},
		"goog:chromeOptions": map[string]any{"binary": path, "args": args},
	}
	var created struct {
		SessionID    string `json:"sessionId"`
		Capabilities struct {
			BrowserVersion string `json:"browserVersion"`
		} `json:"capabilities"`
	}
	in := map[string]any{"capabilities": map[string]any{"alwaysMatch": caps}}
	if err := b.send(http.MethodPost, b.driver.addr+"/session", "POST session", in, &created); err != nil {
		return err
	}
	if created.SessionID == "" {
		return errors.New("no session id in the response")
	}
	b.session = b.driver.addr + "/session/" + created.SessionID
	b.version = created.Capabilities.BrowserVersion
	return nil
}

// Do sends one WebDriver command of the session and decodes the value of the
// response into out, unless out is nil. path is relative to the session's
// URL, such as "window/rect" or "element/ID/attribute/href"; in, unless nil,
// is the JSON body (a POST without one sends {}). An error that WebDriver
// reports is an *Error.
func (b *Browser) Do(method, path string, in, out any) error {
	return b.send(method, b.session+"/"+path, method+" "+path, in, out)
}

// do is Do failing the test on error.
func (b *Browser) do(method, path string, in, out any) {
	b.t.Helper()
	if err := b.Do(method, path, in, out); err != nil {
		b.t.Fatalf("browsertest: %v", err)
	}
}

// send makes one request to ChromeDriver, named command in errors.
func (b *Browser) send(method, url, command string, in, out any) error {
	var body io.Reader
	if in == nil && method == http.MethodPost {
		in = struct{}{}
	}
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("webdriver %s: %w", command, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return fmt.Errorf("webdriver %s: %w", command, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("webdriver %s: %w", command, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("webdriver %s: reading the response: %w", command, err)
	}
	var reply struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return fmt.Errorf("webdriver %s: HTTP %d, not JSON: %.200q", command, resp.StatusCode, data)
	}
	if resp.StatusCode >= 400 {
		var w wireError
		if err := json.Unmarshal(reply.Value, &w); err != nil {
			return fmt.Errorf("webdriver %s: HTTP %d: %.200q", command, resp.StatusCode, data)
		}
		return newError(command, resp.StatusCode, w)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(reply.Value, out); err != nil {
		return fmt.Errorf("webdriver %s: decoding %.200q: %w", command, reply.Value, err)
	}
	return nil
}
