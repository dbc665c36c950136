package graphx

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlainAddressesAgreesWithNetMail(t *testing.T) {
	for _, v := range []string{
		"a@example.net",
		"A@Example.NET, b@example.net",
		"Ann Example <ann@example.net>, bob@example.net",
		"John Q. Public <jqp@example.net>",
		"  spaced@example.net  ,  other@example.net ",
	} {
		list, ok := plainAddresses(v)
		require.True(t, ok, v)
		want, err := mail.ParseAddressList(v)
		require.NoError(t, err, v)
		require.Len(t, list, len(want), v)
		for i, a := range want {
			assert.Equal(t, strings.ToLower(a.Address), list[i], v)
		}
	}
	for _, v := range []string{
		`"Doe, John" <jd@example.net>`, "a@b (comment)", "undisclosed-recipients:;", "=?utf-8?q?J=C3=B6rg?= <j@example.net>",
		"a@b c@d", "<<<", "a@b,,c@d", "nobody", "a@b@c", "x <a@b> y",
	} {
		_, ok := plainAddresses(v)
		assert.False(t, ok, "%q goes to net/mail", v)
	}
}

// FuzzPlainAddresses: whatever the fast path reads, net/mail reads the
// same.
func FuzzPlainAddresses(f *testing.F) {
	for _, s := range []string{"a@b.c", "N <a@b.c>, d@e.f", "a@b, ,c@d", "<a@b>", "x@y>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		list, ok := plainAddresses(v)
		if !ok {
			return
		}
		want, err := mail.ParseAddressList(v)
		if err != nil {
			t.Fatalf("%q: fast path read %q, net/mail fails: %v", v, list, err)
		}
		if len(want) != len(list) {
			t.Fatalf("%q: fast path %q, net/mail %v", v, list, want)
		}
		for i, a := range want {
			if strings.ToLower(a.Address) != list[i] {
				t.Fatalf("%q: fast path %q, net/mail %v", v, list, want)
			}
		}
	})
}

func TestScanHeaderUnfoldsAndRefusesBrokenLines(t *testing.T) {
	fs, err := scanHeader([]byte("To: a@example.net,\r\n b@example.net\r\nSubject: x\r\n\r\nTo: body@example.net\r\n"))
	require.NoError(t, err)
	require.Len(t, fs, 2)
	assert.Equal(t, field{"To", "a@example.net, b@example.net"}, fs[0], "the line break removed, the space kept; the body not read")
	for _, bad := range []string{" leading\r\n\r\n", "no colon\r\n\r\n", ": empty name\r\n\r\n", "Sp ace: x\r\n\r\n"} {
		_, err := parseHeader([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
	fs, err = scanHeader([]byte("X-A: 1\r\n\tmore\r\nto: a@b\r\n c@d\r\n\r\n"), "To")
	require.NoError(t, err)
	assert.Equal(t, []field{{"To", "a@b c@d"}}, fs, "only the fields asked for, any case, their folds too")
	h, err := parseHeader([]byte("From: App <APP@example.com>\nTo: a@example.net\nCc: A@example.net, c@example.net\nBcc:\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"a@example.net", "c@example.net"}, h.recipients, "each once, lower case; an empty Bcc is none")
	assert.Equal(t, "app@example.com", h.from)
	assert.False(t, h.crlf)
}

func TestBccFieldFolds(t *testing.T) {
	var addrs []string
	for i := range 6 {
		addrs = append(addrs, strings.Repeat("x", 20)+string(rune('a'+i))+"@example.net")
	}
	f := string(bccField(addrs, true))
	assert.True(t, strings.HasPrefix(f, "Bcc: "))
	assert.True(t, strings.HasSuffix(f, "\r\n"))
	for _, line := range strings.Split(strings.TrimSuffix(f, "\r\n"), "\r\n") {
		assert.LessOrEqual(t, len(line), maxFieldLine, line)
	}
	fs, err := scanHeader([]byte(f + "\r\n"))
	require.NoError(t, err)
	list, err := addresses(fs[0])
	require.NoError(t, err)
	assert.Equal(t, addrs, list, "folded, it still reads as the same list")
}

func TestBase64ReaderMatchesTheEncoding(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, base64Chunk - 1, base64Chunk, base64Chunk + 1, 3*base64Chunk + 2} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		got, err := io.ReadAll(newBase64Reader(bytes.NewReader(raw), int64(n)))
		require.NoError(t, err)
		assert.Equal(t, base64.StdEncoding.EncodeToString(raw), string(got), "n=%d", n)
		assert.Equal(t, int64(len(got)), base64Len(int64(n)))
	}
}

func TestWindowNeverExceedsItsCap(t *testing.T) {
	const limit, span = 50, time.Minute
	w := newWindow(limit, span)
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var starts []time.Time
	for len(starts) < 2000 {
		now = now.Add(time.Duration(rng.IntN(int(2 * span / limit))))
		if d := w.take(now); d > 0 {
			now = now.Add(d)
			continue
		}
		starts = append(starts, now)
	}
	for i := range starts {
		j := i
		for j < len(starts) && starts[j].Sub(starts[i]) < span {
			j++
		}
		require.LessOrEqual(t, j-i, limit, "events in the window from %v", starts[i])
	}
	// At a steady pace under the cap, nobody waits.
	w = newWindow(limit, span)
	for range 500 {
		now = now.Add(span / limit * 11 / 10)
		require.Zero(t, w.take(now))
	}
}

func TestAnswerErrorScrubsSecrets(t *testing.T) {
	tok := "secret-token-abcdefgh-12345"
	body := `{"error":{"code":"InvalidAuthenticationToken","message":"token ` + tok + ` or ` +
		base64.StdEncoding.EncodeToString([]byte("x"+tok)) + `\n is bad","innerError":{"request-id":"r-1"}}}`
	e := answerError(PhaseSendMail, 401, nil, strings.NewReader(body), tok)
	assert.NotContains(t, e.Error(), tok)
	assert.NotContains(t, e.Error(), "\n")
	assert.Contains(t, e.Message, "[redacted]")
	assert.Equal(t, "r-1", e.RequestID)
	assert.Equal(t, "InvalidAuthenticationToken", e.Code)
	long := answerError(PhaseSendMail, 500, nil, strings.NewReader(`{"error":{"message":"`+strings.Repeat("é", 1000)+`"}}`))
	assert.LessOrEqual(t, len(long.Message), maxErrorText+3)
	assert.True(t, strings.HasSuffix(long.Message, "..."))
	plain := answerError(PhaseSendMail, 502, nil, strings.NewReader("<html>bad gateway</html>"))
	assert.Equal(t, "unexpected answer", plain.Message)
}

func TestSplitPartsFindsTopLevelPartsOnly(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the scanner's buffer
	body := "preamble\r\n--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B\r\n" +
		"Content-Type: multipart/alternative; boundary=C\r\n\r\n--C\r\n\r\nalt\r\n--C--\r\n--B \r\n" +
		"Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <c1>\r\n\r\nAAAA\r\n--B\r\n" +
		"Content-Disposition: inline; filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\n" + long + "--B not a delimiter\r\n--B--\r\nepilogue\r\n"
	parts, err := splitParts(strings.NewReader(body), int64(len(body)), "B")
	require.NoError(t, err)
	require.Len(t, parts, 4)
	content := func(p *part) string { return body[p.contentStart:p.contentEnd] }
	assert.Equal(t, "hello", content(parts[0]))
	assert.Equal(t, "multipart/alternative", parts[1].contentType)
	assert.Equal(t, "application/pdf", parts[2].contentType)
	assert.Equal(t, "r.pdf", parts[2].name)
	assert.Equal(t, "c1", parts[2].contentID)
	assert.Equal(t, "base64", parts[2].encoding)
	assert.Equal(t, "AAAA", content(parts[2]))
	assert.Equal(t, "été.txt", parts[3].name)
	assert.True(t, parts[3].inline)
	assert.Equal(t, long+"--B not a delimiter", content(parts[3]))
	// Cutting a part out leaves a well-formed body.
	p := parts[2]
	cut := body[:p.cutStart] + body[p.cutEnd:]
	again, err := splitParts(strings.NewReader(cut), int64(len(cut)), "B")
	require.NoError(t, err)
	assert.Len(t, again, 3)

	_, err = splitParts(strings.NewReader("--B\r\nx\r\n"), 8, "B")
	assert.Error(t, err, "no closing delimiter")
}
