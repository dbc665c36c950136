package graphx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// draftCleanupTimeout bounds the deletion of a draft whose sending failed,
// which runs even when the caller's context is done.
const draftCleanupTimeout = 30 * time.Second

// maxJSONAnswer bounds the JSON answers read whole (a created draft, an
// upload session, a delta page).
const maxJSONAnswer = 16 << 20

// sendLarge sends a message larger than one request through a draft: the
// draft holds the message without its largest attachments, which are added
// to it apart, then the draft is sent. A failure before the send deletes
// the draft and, when it is temporary, starts again from a new draft: only
// the send itself can deliver the message, so nothing is sent twice.
//
// limit is the most the draft may hold; negative: take every attachment
// out (after sendMail refused the message as too large).
func (c *Client) sendLarge(ctx context.Context, src *source, h *header, limit int64) error {
	plan, err := planDraft(src, h, limit)
	if err != nil {
		return localError(PhaseMessage, err, "%v", err)
	}
	for attempt := 1; ; attempt++ {
		id, err := c.prepareDraft(ctx, plan)
		if err == nil {
			return c.sendDraft(ctx, id)
		}
		var e *Error
		if !errors.As(err, &e) || !e.Temporary || attempt > c.maxRetries || ctx.Err() != nil {
			return err
		}
		c.log.DebugContext(ctx, "graphx: preparing the draft failed; starting again",
			"attempt", attempt, "error", e.Error())
		if err := c.waitRetry(ctx, e, attempt); err != nil {
			return e
		}
	}
}

// prepareDraft creates the draft and adds the attachments; on failure it
// deletes the draft.
func (c *Client) prepareDraft(ctx context.Context, plan *draftPlan) (string, error) {
	id, err := c.createDraft(ctx, plan)
	if err != nil {
		return "", err
	}
	for _, a := range plan.attachments {
		if a.decoded < uploadMinimum {
			err = c.postAttachment(ctx, plan, id, a)
		} else {
			err = c.uploadAttachment(ctx, plan, id, a)
		}
		if err != nil {
			c.deleteDraft(ctx, id)
			return "", err
		}
	}
	return id, nil
}

// messagePath returns the path of a message of the mailbox.
func (c *Client) messagePath(id string) string {
	return c.userPath + "/messages/" + url.PathEscape(id)
}

// createDraft posts the draft's MIME to the mailbox's messages
// (https://learn.microsoft.com/en-us/graph/api/user-post-messages).
func (c *Client) createDraft(ctx context.Context, plan *draftPlan) (string, error) {
	resp, err := c.do(ctx, &request{
		phase:  PhaseDraft,
		method: http.MethodPost,
		url:    c.userPath + "/messages",
		body: func() (io.Reader, error) {
			return newBase64Reader(plan.draft(), plan.draftLen), nil
		},
		length: base64Len(plan.draftLen),
		ctype:  "text/plain",
		accept: []int{http.StatusCreated},
	})
	if err != nil {
		return "", err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := decodeJSON(resp, &created); err != nil || created.ID == "" {
		return "", &Error{Phase: PhaseDraft, Status: resp.StatusCode, Message: "the created draft has no id", Temporary: true, Err: err}
	}
	return created.ID, nil
}

// postAttachment adds an attachment under 3 MB in one request
// (https://learn.microsoft.com/en-us/graph/api/message-post-attachments).
func (c *Client) postAttachment(ctx context.Context, plan *draftPlan, id string, a *part) error {
	cid := ""
	if a.contentID != "" {
		cid = `"contentId":` + jsonString(a.contentID) + `,`
	}
	head := `{"@odata.type":"#microsoft.graph.fileAttachment","name":` + jsonString(a.name) +
		`,"contentType":` + jsonString(a.contentType) + `,"isInline":` + strconv.FormatBool(a.inline) + `,` + cid + `"contentBytes":"`
	const tail = `"}`
	resp, err := c.do(ctx, &request{
		phase:  PhaseAttach,
		method: http.MethodPost,
		url:    c.messagePath(id) + "/attachments",
		body: func() (io.Reader, error) {
			return io.MultiReader(strings.NewReader(head), newBase64Reader(plan.content(a), a.decoded), strings.NewReader(tail)), nil
		},
		length: int64(len(head)) + base64Len(a.decoded) + int64(len(tail)),
		ctype:  "application/json",
		accept: []int{http.StatusCreated},
	})
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// attachmentItem is the body of createUploadSession.
type attachmentItem struct {
	AttachmentType string `json:"attachmentType"`
	Name           string `json:"name"`
	Size           int64  `json:"size"`
	ContentType    string `json:"contentType,omitempty"`
	IsInline       bool   `json:"isInline"`
	ContentID      string `json:"contentId,omitempty"`
}

// uploadAttachment adds an attachment of 3 MB or more through an upload
// session: its bytes go in order, in ranges of ChunkSize, to the session's
// pre-authenticated URL, which never gets the bearer token
// (https://learn.microsoft.com/en-us/graph/outlook-large-attachments).
func (c *Client) uploadAttachment(ctx context.Context, plan *draftPlan, id string, a *part) error {
	item, _ := json.Marshal(map[string]attachmentItem{"AttachmentItem": {
		AttachmentType: "file", Name: a.name, Size: a.decoded, ContentType: a.contentType, IsInline: a.inline, ContentID: a.contentID,
	}})
	resp, err := c.do(ctx, &request{
		phase:  PhaseAttach,
		method: http.MethodPost,
		url:    c.messagePath(id) + "/attachments/createUploadSession",
		body:   func() (io.Reader, error) { return strings.NewReader(string(item)), nil },
		length: int64(len(item)),
		ctype:  "application/json",
		accept: []int{http.StatusCreated},
	})
	if err != nil {
		return err
	}
	var session struct {
		UploadURL string `json:"uploadUrl"`
	}
	err = decodeJSON(resp, &session)
	u, perr := url.Parse(session.UploadURL)
	if err != nil || perr != nil || u.Scheme != "https" || u.Host == "" {
		return &Error{Phase: PhaseAttach, Status: resp.StatusCode, Message: "the upload session has no https upload URL", Temporary: true, Err: err}
	}
	secrets := []string{u.RawQuery, u.Path}
	content := plan.content(a)
	for off := int64(0); off < a.decoded; {
		n := min(c.chunk, a.decoded-off)
		last := off+n == a.decoded
		if err := c.uploadRange(ctx, session.UploadURL, secrets, io.LimitReader(content, n), off, n, a.decoded, last); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// errNotRewindable: a range of an upload went once and cannot be read
// again; the draft starts over instead.
var errNotRewindable = errors.New("the range cannot be read again")

// uploadRange PUTs bytes [off, off+n) of total to the upload URL.
func (c *Client) uploadRange(ctx context.Context, uploadURL string, secrets []string, chunk io.Reader, off, n, total int64, last bool) error {
	var used atomic.Bool
	want := http.StatusOK
	if last {
		want = http.StatusCreated
	}
	resp, err := c.do(ctx, &request{
		phase:  PhaseUpload,
		method: http.MethodPut,
		url:    uploadURL,
		body: func() (io.Reader, error) {
			if used.Swap(true) {
				return nil, errNotRewindable
			}
			return chunk, nil
		},
		length:  n,
		ctype:   "application/octet-stream",
		header:  http.Header{"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, total)}},
		accept:  []int{want},
		upload:  true,
		noRetry: true,
		secrets: secrets,
	})
	if err != nil {
		return err
	}
	if last {
		drain(resp)
		return nil
	}
	var progress struct {
		NextExpectedRanges []string `json:"nextExpectedRanges"`
	}
	if err := decodeJSON(resp, &progress); err != nil {
		return &Error{Phase: PhaseUpload, Status: want, Message: "unreadable upload progress", Temporary: true, Err: err}
	}
	next := strconv.FormatInt(off+n, 10)
	if len(progress.NextExpectedRanges) > 0 && !strings.HasPrefix(progress.NextExpectedRanges[0], next+"-") && progress.NextExpectedRanges[0] != next {
		return &Error{Phase: PhaseUpload, Status: want, Message: fmt.Sprintf("Graph expects range %q next, not %s", scrub(progress.NextExpectedRanges[0], 64, nil), next), Temporary: true}
	}
	return nil
}

// sendDraft sends the draft (https://learn.microsoft.com/en-us/graph/api/message-send).
// A failure that cannot have sent it deletes the draft; after an uncertain
// one the draft stays: sent, it is in Sent Items; not sent, in Drafts.
func (c *Client) sendDraft(ctx context.Context, id string) error {
	resp, err := c.do(ctx, &request{
		phase:  PhaseSend,
		method: http.MethodPost,
		url:    c.messagePath(id) + "/send",
		body:   func() (io.Reader, error) { return strings.NewReader(""), nil },
		accept: []int{http.StatusAccepted},
		sends:  true,
	})
	if err != nil {
		if !IsUncertain(err) {
			c.deleteDraft(ctx, id)
		}
		return err
	}
	drain(resp)
	return nil
}

// deleteDraft removes a draft that will not be sent, even when ctx is
// done; a failure is logged, not returned.
func (c *Client) deleteDraft(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), draftCleanupTimeout)
	defer cancel()
	if err := c.delete(ctx, PhaseDraft, id); err != nil {
		c.log.WarnContext(ctx, "graphx: cannot delete the draft of a message that was not sent; it stays in Drafts",
			"mailbox", c.mb.Address, "draft", id, "error", err.Error())
	}
}

// decodeJSON reads resp's JSON body into v and closes it.
func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, maxJSONAnswer)).Decode(v)
}

// jsonString returns s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
