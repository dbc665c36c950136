package graphxtest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/graphx/graphxtest"
)

const mb = "app@example.com"

// do sends a request with token (none when empty) and returns the status,
// the answer's Graph error code and the body.
func do(t *testing.T, srv *graphxtest.Server, method, url, token, ctype, body string, header ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code, string(raw)
}

func newServer(t *testing.T, opts *graphxtest.Options) *graphxtest.Server {
	srv := graphxtest.New(opts)
	t.Cleanup(srv.Close)
	srv.AllowToken(mb, "good-token")
	return srv
}

func mime64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestServerChecksTheToken(t *testing.T) {
	srv := newServer(t, nil)
	url := srv.URL() + "/v1.0/users/" + mb + "/sendMail"
	msg := mime64("To: a@example.net\r\n\r\nx")
	st, code, _ := do(t, srv, "POST", url, "", "text/plain", msg)
	assert.Equal(t, 401, st)
	assert.Equal(t, "InvalidAuthenticationToken", code)
	st, _, _ = do(t, srv, "POST", url, "forged", "text/plain", msg)
	assert.Equal(t, 401, st)
	st, code, _ = do(t, srv, "POST", srv.URL()+"/v1.0/users/other@example.com/sendMail", "good-token", "text/plain", msg)
	assert.Equal(t, 403, st, "a delegated token acts for its own mailbox only")
	assert.Equal(t, "ErrorAccessDenied", code)
	st, _, _ = do(t, srv, "POST", url, "good-token", "text/plain", msg)
	assert.Equal(t, 202, st)
	assert.Equal(t, 2, srv.Stats().Refused)

	srv.AllowToken("", "app-token")
	st, _, _ = do(t, srv, "POST", srv.URL()+"/v1.0/users/other@example.com/sendMail", "app-token", "text/plain", msg)
	assert.Equal(t, 202, st, "an app-only token acts for every mailbox")
}

func TestServerVerifyOption(t *testing.T) {
	srv := newServer(t, &graphxtest.Options{Verify: func(tok string) (string, error) {
		if tok == "v" {
			return mb, nil
		}
		return "", io.EOF
	}})
	url := srv.URL() + "/v1.0/users/" + mb + "/sendMail"
	st, _, _ := do(t, srv, "POST", url, "v", "text/plain", mime64("To: a@example.net\r\n\r\nx"))
	assert.Equal(t, 202, st)
	st, _, _ = do(t, srv, "POST", url, "good-token", "text/plain", mime64("To: a@example.net\r\n\r\nx"))
	assert.Equal(t, 401, st, "Verify decides alone")
}

func TestServerSendMailChecks(t *testing.T) {
	srv := newServer(t, &graphxtest.Options{MaxRequestBytes: 1000})
	url := srv.URL() + "/v1.0/users/" + mb + "/sendMail"
	cases := []struct {
		ctype, body string
		status      int
		code        string
	}{
		{"text/plain", mime64("Subject: none\r\n\r\nx"), 400, "ErrorInvalidRecipients"},
		{"text/plain", "not base64!!", 400, "ErrorMimeContentInvalidBase64String"},
		{"application/json", `{"message":{}}`, 400, "ErrorInvalidRequest"},
		{"text/plain", mime64("From: boss@example.com\r\nTo: a@example.net\r\n\r\nx"), 403, "ErrorSendAsDenied"},
		{"text/plain", mime64("To: a@example.net\r\n\r\n" + strings.Repeat("x", 1000)), 413, "RequestEntityTooLarge"},
	}
	for _, c := range cases {
		st, code, _ := do(t, srv, "POST", url, "good-token", c.ctype, c.body)
		assert.Equal(t, c.status, st, c.code)
		assert.Equal(t, c.code, code)
	}
	assert.Empty(t, srv.Sent())
	st, _, _ := do(t, srv, "POST", url, "good-token", "text/plain", mime64("To: a@example.net\r\nBcc: b@example.net\r\n\r\nx"))
	require.Equal(t, 202, st)
	ds := srv.Deliveries("b@example.net")
	require.Len(t, ds, 1)
	assert.Equal(t, "To: a@example.net\r\n\r\n", string(ds[0].Header), "the Bcc field is removed from what recipients see")
}

func TestServerUploadSessions(t *testing.T) {
	srv := newServer(t, &graphxtest.Options{NoBodies: true})
	base := srv.URL() + "/v1.0/users/" + mb
	st, _, body := do(t, srv, "POST", base+"/messages", "good-token", "text/plain",
		mime64("To: a@example.net\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n"))
	require.Equal(t, 201, st)
	var draft struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &draft))

	item := func(size int) string {
		return `{"AttachmentItem":{"attachmentType":"file","name":"f.bin","size":` + itoa(size) + `}}`
	}
	st, code, _ := do(t, srv, "POST", base+"/messages/"+draft.ID+"/attachments/createUploadSession", "good-token", "application/json", item(1000))
	assert.Equal(t, 400, st)
	assert.Equal(t, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", code)

	size := graphxtest.UploadMinimum + 10
	st, _, body = do(t, srv, "POST", base+"/messages/"+draft.ID+"/attachments/createUploadSession", "good-token", "application/json", item(size))
	require.Equal(t, 201, st)
	var sess struct{ UploadURL string }
	require.NoError(t, json.Unmarshal([]byte(body), &sess))

	chunk := strings.Repeat("z", size-10)
	st, code, _ = do(t, srv, "PUT", sess.UploadURL, "good-token", "application/octet-stream", chunk, "Content-Range", "bytes 0-"+itoa(size-11)+"/"+itoa(size))
	assert.Equal(t, 401, st, "the upload URL takes no bearer token")
	assert.Equal(t, "InvalidAudienceForResource", code)
	assert.Equal(t, 1, srv.Stats().UploadsWithToken)
	st, _, _ = do(t, srv, "PUT", sess.UploadURL, "", "application/octet-stream", "zzzzzzzzzz", "Content-Range", "bytes 5-14/"+itoa(size))
	assert.Equal(t, 416, st, "ranges go in order")
	st, _, _ = do(t, srv, "PUT", sess.UploadURL, "", "application/octet-stream", chunk, "Content-Range", "bytes 0-"+itoa(size-11)+"/"+itoa(size))
	assert.Equal(t, 200, st)
	req, _ := http.NewRequest("PUT", sess.UploadURL, strings.NewReader("zzzzzzzzzz"))
	req.Header.Set("Content-Range", "bytes "+itoa(size-10)+"-"+itoa(size-1)+"/"+itoa(size))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 201, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), "/attachments/")

	st, _, _ = do(t, srv, "POST", base+"/messages/"+draft.ID+"/send", "good-token", "", "")
	require.Equal(t, 202, st)
	sent := srv.Sent()
	require.Len(t, sent, 1)
	require.Len(t, sent[0].Attachments, 1)
	assert.Equal(t, int64(size), sent[0].Attachments[0].Size)
	assert.True(t, sent[0].Attachments[0].Uploaded)
}

func TestServerFaults(t *testing.T) {
	srv := newServer(t, nil)
	url := srv.URL() + "/v1.0/users/" + mb + "/mailFolders/inbox/messages/delta"
	srv.FailNext(graphxtest.RouteDelta, 1, graphxtest.Throttle)
	st, code, _ := do(t, srv, "GET", url, "good-token", "", "")
	assert.Equal(t, 429, st)
	assert.Equal(t, "ApplicationThrottled", code)
	srv.FailNext(graphxtest.RouteDelta, 1, graphxtest.Gone)
	st, _, _ = do(t, srv, "GET", url, "good-token", "", "")
	assert.Equal(t, 200, st, "Gone waits for a request with a link")
	st, _, _ = do(t, srv, "GET", url+"?$deltatoken=unknown", "good-token", "", "")
	assert.Equal(t, 410, st, "an unknown link is gone anyway")
	stats := srv.Stats()
	assert.Equal(t, 1, stats.Throttled)
	assert.Equal(t, 1, stats.Gone)
	assert.Equal(t, 3, stats.WithoutImmutableID, "none of them asked for immutable ids")
	assert.Equal(t, 3, srv.Requests(graphxtest.RouteDelta))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
