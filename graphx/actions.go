package graphx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/mailoauth/mailoauth/internal/neterr"
)

// Open returns the MIME of message id as a stream, from
// /messages/{id}/$value (https://learn.microsoft.com/en-us/graph/outlook-get-mime-message).
// Exchange rebuilds the MIME from what it stored, so it is not the octets
// that arrived. The body holds one of the mailbox's concurrent requests
// until it is closed: always close it.
func (c *Client) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.calls.Done()
	if err := checkID(PhaseFetch, id); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{
		phase:  PhaseFetch,
		method: http.MethodGet,
		url:    c.messagePath(id) + "/$value",
		accept: []int{http.StatusOK},
		safe:   true,
	})
	if err != nil {
		return nil, err
	}
	return &fetchBody{ReadCloser: resp.Body}, nil
}

// fetchBody reports a broken stream as an *Error.
type fetchBody struct {
	io.ReadCloser
}

func (b *fetchBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &Error{Phase: PhaseFetch, Message: "reading the message", Temporary: neterr.IsNetwork(err), Err: err}
	}
	return n, err
}

// MarkRead marks message id read (PATCH isRead,
// https://learn.microsoft.com/en-us/graph/api/message-update).
func (c *Client) MarkRead(ctx context.Context, id string) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.calls.Done()
	if err := checkID(PhaseMarkRead, id); err != nil {
		return err
	}
	const body = `{"isRead":true}`
	resp, err := c.do(ctx, &request{
		phase:  PhaseMarkRead,
		method: http.MethodPatch,
		url:    c.messagePath(id),
		body:   func() (io.Reader, error) { return strings.NewReader(body), nil },
		length: int64(len(body)),
		ctype:  "application/json",
		accept: []int{http.StatusOK},
		safe:   true,
	})
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// Move moves message id to the folder folderID (an id from FolderID, or a
// well-known name such as "deleteditems") and returns the message's id
// there (https://learn.microsoft.com/en-us/graph/api/message-move). With
// the immutable ids every request asks for, the id stays the same, which
// also makes a move safe to repeat.
func (c *Client) Move(ctx context.Context, id, folderID string) (string, error) {
	if err := c.enter(); err != nil {
		return "", err
	}
	defer c.calls.Done()
	if err := checkID(PhaseMove, id); err != nil {
		return "", err
	}
	if folderID == "" {
		return "", localError(PhaseMove, nil, "empty destination folder")
	}
	body := `{"destinationId":` + jsonString(folderID) + `}`
	resp, err := c.do(ctx, &request{
		phase:  PhaseMove,
		method: http.MethodPost,
		url:    c.messagePath(id) + "/move",
		body:   func() (io.Reader, error) { return strings.NewReader(body), nil },
		length: int64(len(body)),
		ctype:  "application/json",
		accept: []int{http.StatusCreated, http.StatusOK},
		safe:   true,
	})
	if err != nil {
		return "", err
	}
	var moved struct {
		ID string `json:"id"`
	}
	if err := decodeJSON(resp, &moved); err != nil || moved.ID == "" {
		// The move happened; the id of an immutable-id request is the old one.
		return id, nil
	}
	return moved.ID, nil
}

// Delete deletes message id (https://learn.microsoft.com/en-us/graph/api/message-delete).
// Graph does not say where a deleted message goes; users find it in
// Recoverable Items, not in Deleted Items: to put a message in the trash
// as mail clients do, Move it to "deleteditems". A message already gone
// (404) is no error, so that a repeated Delete succeeds.
func (c *Client) Delete(ctx context.Context, id string) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.calls.Done()
	if err := checkID(PhaseDelete, id); err != nil {
		return err
	}
	return c.delete(ctx, PhaseDelete, id)
}

// delete is Delete for any phase (a draft's deletion too).
func (c *Client) delete(ctx context.Context, p Phase, id string) error {
	resp, err := c.do(ctx, &request{
		phase:  p,
		method: http.MethodDelete,
		url:    c.messagePath(id),
		accept: []int{http.StatusNoContent, http.StatusOK},
		safe:   true,
	})
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// checkID refuses an empty message id, which would name the collection.
func checkID(p Phase, id string) error {
	if id == "" {
		return localError(p, nil, "empty message id")
	}
	return nil
}
