package graphx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
)

// deliver puts n messages named prefix0.. in the mailbox's folder and
// returns their ids.
func deliver(t *testing.T, e *env, folder, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id, err := e.srv.Deliver(mailboxAddr, folder, message(fmt.Sprintf("%s%d", prefix, i), mailboxAddr))
		require.NoError(t, err)
		ids = append(ids, id)
	}
	return ids
}

// round runs a delta round from link to its end and returns the ids
// listed, the pages and the delta link.
func round(t *testing.T, c *graphx.Client, folder, link string) (ids []string, pages int, deltaLink string) {
	t.Helper()
	for {
		p, err := c.Delta(context.Background(), folder, link)
		require.NoError(t, recordErr(err))
		pages++
		for _, m := range p.Messages {
			ids = append(ids, m.ID)
		}
		if p.DeltaLink != "" {
			return ids, pages, p.DeltaLink
		}
		link = p.NextLink
	}
}

func TestDeltaPagesAndResumesFromTheDeltaLink(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, func(o *graphx.Options) { o.PageSize = 10 })
	first := deliver(t, e, "inbox", "a", 25)

	ids, pages, link := round(t, c, "inbox", "")
	assert.Equal(t, first, ids, "the full sync lists every message once")
	assert.Equal(t, 3, pages, "10 + 10 + 5")

	more := deliver(t, e, "inbox", "b", 3)
	// A restart: a new Client goes on from the kept link.
	c2 := e.client(t, func(o *graphx.Options) { o.PageSize = 10 })
	ids, pages, link2 := round(t, c2, "inbox", link)
	assert.Equal(t, more, ids, "only what came after the link")
	assert.Equal(t, 1, pages)

	ids, _, _ = round(t, c2, "inbox", link2)
	assert.Empty(t, ids, "nothing new")
	assert.Zero(t, e.srv.Stats().WithoutImmutableID)
}

func TestDeltaResumesARoundFromItsNextLink(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, func(o *graphx.Options) { o.PageSize = 4 })
	all := deliver(t, e, "inbox", "a", 10)
	p, err := c.Delta(context.Background(), "inbox", "")
	require.NoError(t, err)
	require.NotEmpty(t, p.NextLink)
	require.Equal(t, p.NextLink, p.Link())
	got := []string{}
	for _, m := range p.Messages {
		got = append(got, m.ID)
	}
	rest, _, _ := round(t, e.client(t, func(o *graphx.Options) { o.PageSize = 4 }), "inbox", p.NextLink)
	assert.Equal(t, all, append(got, rest...))
}

func TestDeltaReportsWhatAMessageIs(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	_, err := e.srv.Deliver(mailboxAddr, "inbox", message("x1", mailboxAddr))
	require.NoError(t, err)
	p, err := c.Delta(context.Background(), "inbox", "")
	require.NoError(t, err)
	require.Len(t, p.Messages, 1)
	m := p.Messages[0]
	assert.Equal(t, "test x1", m.Subject)
	assert.Equal(t, mailboxAddr, m.From)
	assert.Equal(t, "<x1@test>", m.InternetMessageID)
	assert.False(t, m.ReceivedAt.IsZero())
	assert.False(t, m.IsRead)
}

func TestDeltaGoneMeansResync(t *testing.T) {
	for _, how := range []string{"fault", "expired"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.client(t, nil)
			handled := deliver(t, e, "inbox", "a", 5)
			_, _, link := round(t, c, "inbox", "")
			// The caller handled them all and moved two away.
			for _, id := range handled[:2] {
				_, err := c.Move(context.Background(), id, "archive")
				require.NoError(t, err)
			}
			fresh := deliver(t, e, "inbox", "b", 2)
			if how == "fault" {
				e.srv.FailNext(graphxtest.RouteDelta, 1, graphxtest.Gone)
			} else {
				e.srv.ExpireDeltaLinks()
			}
			_, err := c.Delta(context.Background(), "inbox", link)
			require.ErrorIs(t, recordErr(err), graphx.ErrResync)
			var ge *graphx.Error
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, 410, ge.Status)
			assert.False(t, ge.Temporary, "a resync, not a retry")

			ids, _, _ := round(t, c, "inbox", "")
			assert.ElementsMatch(t, append(handled[2:], fresh...), ids,
				"the full sync lists what is still in the folder: the caller skips what it handled")
		})
	}
}

func TestDeltaRetriesThrottlingAndLostAnswers(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, func(o *graphx.Options) { o.PageSize = 2 })
	all := deliver(t, e, "inbox", "a", 5)
	e.srv.FailNext(graphxtest.RouteDelta, 1, graphxtest.Throttle)
	e.srv.FailNext(graphxtest.RouteDelta, 1, graphxtest.LoseAnswer)
	e.srv.FailNext(graphxtest.RouteDelta, 1, graphxtest.Drop)
	ids, _, _ := round(t, c, "inbox", "")
	assert.Equal(t, all, ids)
	st := e.srv.Stats()
	assert.Equal(t, 1, st.Throttled)
	assert.Equal(t, 1, st.LostAnswers)
	assert.Equal(t, 1, st.Dropped)
}

func TestDeltaRefusesALinkToAnotherHost(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	for _, link := range []string{
		"https://attacker.example/v1.0/users/x/mailFolders/inbox/messages/delta?$deltatoken=1",
		e.srv.URL() + "0/v1.0/users/x/messages/delta", // another port
		strings.Replace(e.srv.URL(), "https", "http", 1) + "/v1.0/x",
	} {
		_, err := c.Delta(context.Background(), "inbox", link)
		require.Error(t, recordErr(err), link)
		assert.Contains(t, err.Error(), "refusing", link)
	}
	assert.Zero(t, e.srv.Requests(graphxtest.RouteAny), "the token went nowhere")
}

func TestFolderIDResolvesNamesOnce(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	id, err := e.srv.CreateFolder(mailboxAddr, "inbox", "Tickets")
	require.NoError(t, err)
	nested, err := e.srv.CreateFolder(mailboxAddr, "Inbox/Tickets", "It's done")
	require.NoError(t, err)
	top, err := e.srv.CreateFolder(mailboxAddr, "", "Projects")
	require.NoError(t, err)

	for range 3 {
		got, err := c.FolderID(context.Background(), "Inbox/Tickets")
		require.NoError(t, err)
		assert.Equal(t, id, got)
	}
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteFolders), "resolved once: inbox is well known, Tickets asked once")

	got, err := c.FolderID(context.Background(), "inbox/tickets/IT'S DONE")
	require.NoError(t, err)
	assert.Equal(t, nested, got, "any case, and a quote in the name")
	got, err = c.FolderID(context.Background(), "Projects")
	require.NoError(t, err)
	assert.Equal(t, top, got)
	got, err = c.FolderID(context.Background(), "DeletedItems")
	require.NoError(t, err)
	assert.Equal(t, "deleteditems", got, "a well-known name needs no request")

	_, err = c.FolderID(context.Background(), "Inbox/Nope")
	require.Error(t, recordErr(err))
	assert.Contains(t, err.Error(), "Nope")
	_, err = c.FolderID(context.Background(), "")
	require.Error(t, err)
}

func TestOpenStreamsTheMIME(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	msg := message("v1", mailboxAddr)
	id, err := e.srv.Deliver(mailboxAddr, "inbox", msg)
	require.NoError(t, err)
	e.srv.FailNext(graphxtest.RouteValue, 1, graphxtest.Unavailable)
	body, err := c.Open(context.Background(), id)
	require.NoError(t, recordErr(err))
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	require.NoError(t, body.Close())
	assert.Equal(t, msg, got)

	_, err = c.Open(context.Background(), "AAkALgnope=")
	var ge *graphx.Error
	require.ErrorAs(t, recordErr(err), &ge)
	assert.Equal(t, 404, ge.Status)
	assert.Equal(t, "ErrorItemNotFound", ge.Code)
	_, err = c.Open(context.Background(), "")
	require.Error(t, err)
}

// An open body holds one of the mailbox's requests until it is closed.
func TestOpenHoldsASlotUntilClosed(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, func(o *graphx.Options) { o.MaxConcurrent = 1 })
	id := deliver(t, e, "inbox", "a", 1)[0]
	body, err := c.Open(context.Background(), id)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.MarkRead(context.Background(), id) }()
	// However long the mark waits, it must not start while the body is
	// open; the pause only gives a wrong implementation time to show.
	time.Sleep(50 * time.Millisecond)
	assert.Zero(t, e.srv.Requests(graphxtest.RouteUpdate), "no request while the body is open")
	require.NoError(t, body.Close())
	require.NoError(t, <-done)
	assert.Equal(t, 1, e.srv.Requests(graphxtest.RouteUpdate))
}

func TestMarkRead(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	id := deliver(t, e, "inbox", "a", 1)[0]
	e.srv.FailNext(graphxtest.RouteUpdate, 1, graphxtest.LoseAnswer)
	require.NoError(t, recordErr(c.MarkRead(context.Background(), id)))
	ms, err := e.srv.Messages(mailboxAddr, "inbox")
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.True(t, ms[0].IsRead)
	assert.Equal(t, 2, e.srv.Requests(graphxtest.RouteUpdate), "repeated after the lost answer")
}

func TestMoveKeepsTheIDAndIsSafeToRepeat(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	ids := deliver(t, e, "inbox", "a", 2)
	_, err := e.srv.CreateFolder(mailboxAddr, "", "Done")
	require.NoError(t, err)
	done, err := c.FolderID(context.Background(), "Done")
	require.NoError(t, err)

	e.srv.FailNext(graphxtest.RouteMove, 1, graphxtest.LoseAnswer)
	got, err := c.Move(context.Background(), ids[0], done)
	require.NoError(t, recordErr(err))
	assert.Equal(t, ids[0], got, "an immutable id")
	got, err = c.Move(context.Background(), ids[1], "deleteditems")
	require.NoError(t, err)
	assert.Equal(t, ids[1], got)

	in, _ := e.srv.Messages(mailboxAddr, "Done")
	trash, _ := e.srv.Messages(mailboxAddr, "deleteditems")
	inbox, _ := e.srv.Messages(mailboxAddr, "inbox")
	require.Len(t, in, 1)
	require.Len(t, trash, 1)
	assert.Empty(t, inbox)
	assert.Equal(t, ids[0], in[0].ID)

	_, err = c.Move(context.Background(), ids[0], "")
	assert.Error(t, err)
}

func TestDeleteIsSafeToRepeat(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	id := deliver(t, e, "inbox", "a", 1)[0]
	e.srv.FailNext(graphxtest.RouteDelete, 1, graphxtest.LoseAnswer)
	require.NoError(t, recordErr(c.Delete(context.Background(), id)), "the repeat finds it gone")
	require.NoError(t, c.Delete(context.Background(), id))
	inbox, _ := e.srv.Messages(mailboxAddr, "inbox")
	assert.Empty(t, inbox)
	assert.Equal(t, 3, e.srv.Requests(graphxtest.RouteDelete))
}

func TestActionsReplaceARefusedTokenOnce(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	id := deliver(t, e, "inbox", "a", 1)[0]
	e.srv.FailNext(graphxtest.RouteUpdate, 1, graphxtest.RejectToken)
	require.NoError(t, c.MarkRead(context.Background(), id))
	_, invalidated := e.tokens.counts()
	assert.Equal(t, 1, invalidated)

	e.srv.FailNext(graphxtest.RouteDelta, 2, graphxtest.RejectToken)
	_, err := c.Delta(context.Background(), "inbox", "")
	var ge *graphx.Error
	require.ErrorAs(t, recordErr(err), &ge)
	assert.True(t, ge.Retried)
	assert.False(t, errors.Is(err, graphx.ErrResync))
}
