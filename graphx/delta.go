package graphx

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MessageInfo is what a delta page tells about a message.
type MessageInfo struct {
	// ID is the message's immutable id: it survives moves between folders
	// of the mailbox, and is case-sensitive.
	ID                string
	InternetMessageID string
	Subject           string
	From              string // the From address; empty when none
	ReceivedAt        time.Time
	IsRead            bool
}

// DeltaPage is one page of a folder's delta query
// (https://learn.microsoft.com/en-us/graph/api/message-delta). Exactly one
// of NextLink and DeltaLink is set.
type DeltaPage struct {
	// Messages are messages new to the folder since the link, in Graph's
	// order (none promised). Graph may list a message again, in a later
	// page or round: whoever handles them must skip those it handled.
	Messages []MessageInfo
	// Removed are the ids of messages the page lists as @removed (deleted
	// or moved out). Delta asks for created messages only, so Graph
	// should list none; they are kept apart, never in Messages.
	Removed []string
	// NextLink continues this round: call Delta with it. It may be kept,
	// to resume the round after a restart.
	NextLink string
	// DeltaLink ends the round: keep it, and start the next round from it.
	DeltaLink string
}

// Link returns the link to call Delta with next: NextLink or DeltaLink.
func (p *DeltaPage) Link() string {
	if p.NextLink != "" {
		return p.NextLink
	}
	return p.DeltaLink
}

// deltaSelect are the properties the first request of a round asks for;
// Graph carries them in its links
// (https://learn.microsoft.com/en-us/graph/delta-query-messages).
const deltaSelect = "id,subject,from,receivedDateTime,isRead,internetMessageId"

// resyncCodes are Graph's codes for a delta state it no longer has
// (https://learn.microsoft.com/en-us/graph/delta-query-overview).
var resyncCodes = map[string]bool{"syncStateNotFound": true, "resyncRequired": true, "SyncStateNotFound": true}

// Delta returns the next page of folderID's delta query (folderID from
// FolderID, or a well-known name). An empty link starts a full sync, which
// lists every message in the folder; a NextLink or DeltaLink from an
// earlier page goes on from there, even after a restart. Only new messages
// are listed (changeType=created); changes of read state are not.
//
// When Graph no longer knows the link's state (410 Gone, syncStateNotFound,
// resyncRequired) the error wraps ErrResync: call again with an empty
// link. The full sync lists again the messages still in the folder, those
// handled before included, so the caller must keep what it handled (by
// ID) to skip them.
func (c *Client) Delta(ctx context.Context, folderID, link string) (*DeltaPage, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.calls.Done()
	u := link
	if u == "" {
		if folderID == "" {
			return nil, localError(PhaseDelta, nil, "empty folder")
		}
		u = c.userPath + "/mailFolders/" + url.PathEscape(folderID) + "/messages/delta?changeType=created&$select=" + deltaSelect
	} else if err := c.checkLink(link); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{
		phase:  PhaseDelta,
		method: http.MethodGet,
		url:    u,
		accept: []int{http.StatusOK},
		safe:   true,
		prefer: []string{"odata.maxpagesize=" + strconv.Itoa(c.pageSize)},
	})
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusGone || resyncCodes[e.Code]) {
		e.Err = ErrResync
		e.Message = "Graph no longer knows this delta link (" + e.Message + "); start a full sync"
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	var raw struct {
		Value []struct {
			ID                string `json:"id"`
			Subject           string `json:"subject"`
			InternetMessageID string `json:"internetMessageId"`
			ReceivedDateTime  string `json:"receivedDateTime"`
			IsRead            bool   `json:"isRead"`
			From              *struct {
				EmailAddress struct {
					Address string `json:"address"`
				} `json:"emailAddress"`
			} `json:"from"`
			Removed *struct {
				Reason string `json:"reason"`
			} `json:"@removed"`
		} `json:"value"`
		NextLink  string `json:"@odata.nextLink"`
		DeltaLink string `json:"@odata.deltaLink"`
	}
	if err := decodeJSON(resp, &raw); err != nil {
		return nil, &Error{Phase: PhaseDelta, Status: resp.StatusCode, Message: "unreadable delta page", Temporary: true, Err: err}
	}
	page := &DeltaPage{NextLink: raw.NextLink, DeltaLink: raw.DeltaLink}
	if (page.NextLink == "") == (page.DeltaLink == "") {
		return nil, &Error{Phase: PhaseDelta, Status: resp.StatusCode, Message: "the delta page has neither or both of nextLink and deltaLink"}
	}
	if err := c.checkLink(page.Link()); err != nil {
		return nil, err
	}
	for _, v := range raw.Value {
		if v.ID == "" {
			continue
		}
		if v.Removed != nil {
			page.Removed = append(page.Removed, v.ID)
			continue
		}
		m := MessageInfo{ID: v.ID, InternetMessageID: v.InternetMessageID, Subject: v.Subject, IsRead: v.IsRead}
		if v.From != nil {
			m.From = v.From.EmailAddress.Address
		}
		if t, err := time.Parse(time.RFC3339, v.ReceivedDateTime); err == nil {
			m.ReceivedAt = t
		}
		page.Messages = append(page.Messages, m)
	}
	return page, nil
}

// checkLink refuses a link that leaves the Graph host: the bearer token
// goes with it.
func (c *Client) checkLink(link string) error {
	if !strings.HasPrefix(link, c.origin+"/") {
		return &Error{Phase: PhaseDelta, Message: "refusing a delta link outside " + c.origin + ": the bearer token would go with it"}
	}
	if strings.ContainsAny(link, "\r\n\x00 ") {
		return &Error{Phase: PhaseDelta, Message: "refusing a malformed delta link"}
	}
	return nil
}
