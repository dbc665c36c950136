package graphx_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
)

// countingReader counts what was read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// checkAttachments asserts that sent carries atts (indexed as mixed built
// them), whole and once each; take lists the indexes expected, nil: all.
func checkAttachments(t *testing.T, sent graphxtest.Sent, atts []attachment, uploaded map[string]bool, take ...int) {
	t.Helper()
	if take == nil {
		for i := range atts {
			take = append(take, i)
		}
	}
	names := make([]string, len(sent.Attachments))
	for i, a := range sent.Attachments {
		names[i] = a.Name
	}
	require.Equal(t, len(take), len(sent.Attachments), "attachments added to the draft: %v", names)
	for k, i := range take {
		a := atts[i]
		got := sent.Attachments[k]
		assert.Equal(t, a.name, got.Name)
		assert.Equal(t, int64(a.size), got.Size, a.name)
		assert.Equal(t, contentSum(i, a.size), got.Sum, "%s arrived intact", a.name)
		assert.Equal(t, uploaded[a.name], got.Uploaded, "%s went through an upload session", a.name)
		assert.Equal(t, "application/octet-stream", got.ContentType)
	}
}

func TestSendLargeGoesThroughADraftWithUploadSessions(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	// 4 MiB goes through an upload session; then 1.5 MiB is still too
	// much for one request and is posted; 1 MiB stays in the draft.
	atts := []attachment{{"report.pdf", 4<<20 + 123}, {"mid.bin", 1536 << 10}, {"small.bin", 1 << 20}}
	require.NoError(t, recordErr(s.Send(context.Background(), envelope("ann@example.net"), mixed("ann@example.net", atts))))

	sent := e.srv.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, graphxtest.RouteSend, sent[0].Via)
	assert.Equal(t, []string{"ann@example.net"}, sent[0].Recipients)
	checkAttachments(t, sent[0], atts, map[string]bool{"report.pdf": true}, 0, 1)
	assert.Contains(t, string(sent[0].MIME), "The files are attached.", "the text stays in the draft")
	assert.NotContains(t, string(sent[0].MIME), "report.pdf", "the large attachments left the draft's MIME")
	assert.NotContains(t, string(sent[0].MIME), "mid.bin")
	assert.Contains(t, string(sent[0].MIME), `filename="small.bin"`, "the small one stays")
	assert.Less(t, sent[0].Size, int64(graphx.DefaultSendMailLimit))
	assert.True(t, strings.HasSuffix(string(sent[0].MIME), "--b0undary--\r\n"), "the draft's MIME is still well formed")

	assert.Zero(t, e.srv.Requests(graphxtest.RouteSendMail))
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteCreateDraft))
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteAttachment))
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteUploadSession))
	assert.Equal(t, 2, e.srv.Requests(graphxtest.RouteUpload), "4 MiB in ranges of 3.75 MiB")
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteSend))
	st := e.srv.Stats()
	assert.Zero(t, st.UploadsWithToken, "the upload URL never gets the bearer token")
	assert.Zero(t, st.WithoutImmutableID)
	drafts, err := e.srv.Messages(mailboxAddr, "drafts")
	require.NoError(t, err)
	assert.Empty(t, drafts, "the draft was sent")
	items, err := e.srv.Messages(mailboxAddr, "sentitems")
	require.NoError(t, err)
	assert.Len(t, items, 1)
}

func TestSendLargeStartsOverFromANewDraftAfterAFailedUpload(t *testing.T) {
	for _, f := range []graphxtest.Fault{graphxtest.LoseAnswer, graphxtest.Drop, graphxtest.Throttle} {
		e := newEnv(t, nil)
		s := e.client(t, nil).Sender()
		atts := []attachment{{"a.bin", 3<<20 + 5}, {"b.bin", 3<<20 + 7}}
		e.srv.FailNext(graphxtest.RouteUpload, 1, f)
		require.NoError(t, recordErr(s.Send(context.Background(), envelope("ann@example.net"), mixed("ann@example.net", atts))), "fault %d", f)
		sent := e.srv.Sent()
		require.Len(t, sent, 1, "fault %d: sent once", f)
		checkAttachments(t, sent[0], atts, map[string]bool{"a.bin": true, "b.bin": true})
		assert.Equal(t, 2, e.srv.Requests(graphxtest.RouteCreateDraft), "fault %d: a new draft", f)
		drafts, err := e.srv.Messages(mailboxAddr, "drafts")
		require.NoError(t, err)
		assert.Empty(t, drafts, "fault %d: the broken draft was deleted", f)
	}
}

func TestSendLargeNeverSendsTheDraftTwice(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	e.srv.FailNext(graphxtest.RouteSend, 1, graphxtest.LoseAnswer)
	err := recordErr(s.Send(context.Background(), envelope("ann@example.net"), mixed("ann@example.net", []attachment{{"a.bin", 3 << 20}})))
	require.True(t, graphx.IsUncertain(err), "%v", err)
	var ge *graphx.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, graphx.PhaseSend, ge.Phase)
	assert.Len(t, e.srv.Sent(), 1)
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteSend))
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteCreateDraft))
}

func TestSendLargeDeletesTheDraftWhenTheSendIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	msg := strings.Replace(readAll(t, mixed("ann@example.net", []attachment{{"a.bin", 3 << 20}})), "From: app@example.com", "From: ceo@example.com", 1)
	err := recordErr(s.Send(context.Background(), graphx.Envelope{From: "ceo@example.com", To: []string{"ann@example.net"}}, strings.NewReader(msg)))
	var ge *graphx.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "ErrorSendAsDenied", ge.Code)
	assert.False(t, ge.Uncertain)
	drafts, err := e.srv.Messages(mailboxAddr, "drafts")
	require.NoError(t, err)
	assert.Empty(t, drafts)
	assert.Empty(t, e.srv.Sent())
}

func TestSendFallsBackToADraftWhenSendMailSays413(t *testing.T) {
	e := newEnv(t, &graphxtest.Options{MaxRequestBytes: 300 << 10})
	s := e.client(t, nil).Sender()
	atts := []attachment{{"a.bin", 200 << 10}}
	require.NoError(t, recordErr(s.Send(context.Background(), envelope("ann@example.net"), mixed("ann@example.net", atts))))
	sent := e.srv.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, graphxtest.RouteSend, sent[0].Via)
	checkAttachments(t, sent[0], atts, nil)
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteSendMail), "refused as too large, once")
}

func TestSendRefusesALargeMessageItCannotSplit(t *testing.T) {
	e := newEnv(t, nil)
	s := e.client(t, nil).Sender()
	big := string(message("m", "ann@example.net")) + strings.Repeat("0123456789abcdef\r\n", 150_000)
	err := recordErr(s.Send(context.Background(), envelope("ann@example.net"), strings.NewReader(big)))
	require.ErrorIs(t, err, graphx.ErrTooLarge)
	assert.Zero(t, e.srv.Requests(graphxtest.RouteAny))
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

// peakHeap samples the live heap (after a collection) until stop is
// closed and returns the highest value seen.
func peakHeap(stop <-chan struct{}) uint64 {
	var peak uint64
	var ms runtime.MemStats
	for {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		select {
		case <-stop:
			return peak
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestSend20MBKeepsTheHeapSmall sends a 20 MB message with three
// attachments (generated as it is read, so that only Send could hold it)
// and samples the live heap all along: the client and the server (which
// keeps sums only) together grow it by less than 1 MB.
func TestSend20MBKeepsTheHeapSmall(t *testing.T) {
	e := newEnv(t, &graphxtest.Options{NoBodies: true})
	e.opts.Logger = nil
	s := e.client(t, nil).Sender()
	atts := []attachment{{"one.bin", 7 << 20}, {"two.bin", 5 << 20}, {"three.bin", 3 << 20}}
	// Warm up: connections, TLS sessions, pools.
	require.NoError(t, recordErr(s.Send(context.Background(), envelope("ann@example.net"), mixed("ann@example.net", []attachment{{"w.bin", 3 << 20}}))))

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() { peak = peakHeap(stop) })
	msg := &countingReader{r: mixed("ann@example.net", atts)}
	err := s.Send(context.Background(), envelope("ann@example.net"), msg)
	close(stop)
	wg.Wait()
	require.NoError(t, recordErr(err))

	sent := e.srv.Sent()
	require.Len(t, sent, 2)
	checkAttachments(t, sent[1], atts, map[string]bool{"one.bin": true, "two.bin": true, "three.bin": true})
	growth := int64(peak) - int64(base)
	require.Greater(t, msg.n, int64(20<<20))
	t.Logf("a %.1f MiB message: live heap %d KiB before, peak %d KiB, growth %d KiB",
		float64(msg.n)/(1<<20), base>>10, peak>>10, growth>>10)
	assert.Less(t, growth, int64(1<<20), "the message is never held in memory")
}

// A message that is an io.ReaderAt is read where it is: no spool file.
func TestSendLargeReadsAReaderAtInPlace(t *testing.T) {
	e := newEnv(t, nil)
	dir := t.TempDir()
	s := e.client(t, func(o *graphx.Options) { o.TempDir = dir }).Sender()
	atts := []attachment{{"a.bin", 3<<20 + 1}}
	raw := []byte(readAll(t, mixed("ann@example.net", atts)))
	require.NoError(t, recordErr(s.Send(context.Background(), envelope("ann@example.net"), bytes.NewReader(raw))))
	checkAttachments(t, e.srv.Sent()[0], atts, map[string]bool{"a.bin": true})

	// A plain reader is spooled to TempDir, and the file is gone after.
	require.NoError(t, recordErr(s.Send(context.Background(), envelope("ann@example.net"), io.MultiReader(bytes.NewReader(raw)))))
	checkAttachments(t, e.srv.Sent()[1], atts, map[string]bool{"a.bin": true})
	left, err := filepathGlob(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "the spool file was removed")
}
