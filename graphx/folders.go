package graphx

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// wellKnownFolders are the folder names Graph resolves in every mailbox,
// whatever its language (https://learn.microsoft.com/en-us/graph/api/resources/mailfolder).
var wellKnownFolders = map[string]bool{
	"archive": true, "clutter": true, "conflicts": true, "conversationhistory": true,
	"deleteditems": true, "drafts": true, "inbox": true, "junkemail": true,
	"localfailures": true, "msgfolderroot": true, "outbox": true,
	"recoverableitemsdeletions": true, "scheduled": true, "searchfolders": true,
	"sentitems": true, "serverfailures": true, "syncissues": true,
}

// FolderID returns the id of the folder name, for Delta and Move. A
// well-known name ("inbox", "deleteditems", "archive", any case) is
// returned as it is, lower case: Graph takes it wherever it takes an id.
// Another name is a display name, and "/" separates the levels of a
// nested one ("Inbox/Tickets", "Projects/2026"); it is resolved once per
// Client. Display names depend on the mailbox's language; well-known names
// do not.
func (c *Client) FolderID(ctx context.Context, name string) (string, error) {
	if err := c.enter(); err != nil {
		return "", err
	}
	defer c.calls.Done()
	key := strings.ToLower(strings.Trim(name, "/"))
	if key == "" {
		return "", localError(PhaseFolder, nil, "empty folder name")
	}
	if wellKnownFolders[key] {
		return key, nil
	}
	c.mu.Lock()
	id, ok := c.folders[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	parent := ""
	for i, seg := range strings.Split(strings.Trim(name, "/"), "/") {
		if i == 0 && wellKnownFolders[strings.ToLower(seg)] {
			parent = strings.ToLower(seg)
			continue
		}
		found, err := c.childFolder(ctx, parent, seg)
		if err != nil {
			return "", err
		}
		if found == "" {
			where := "the top of the mailbox"
			if parent != "" {
				where = "its parent folder"
			}
			return "", localError(PhaseFolder, nil, "no folder named %q at %s (in %q)", seg, where, name)
		}
		parent = found
	}
	c.mu.Lock()
	c.folders[key] = parent
	c.mu.Unlock()
	return parent, nil
}

// childFolder returns the id of parent's child folder named name ("" for
// a top-level folder), or "" when there is none.
// (https://learn.microsoft.com/en-us/graph/api/user-list-mailfolders,
// https://learn.microsoft.com/en-us/graph/api/mailfolder-list-childfolders)
func (c *Client) childFolder(ctx context.Context, parent, name string) (string, error) {
	u := c.userPath + "/mailFolders"
	if parent != "" {
		u += "/" + url.PathEscape(parent) + "/childFolders"
	}
	// An OData string literal doubles its quotes.
	filter := "displayName eq '" + strings.ReplaceAll(name, "'", "''") + "'"
	u += "?$filter=" + queryEscape(filter) + "&$select=id,displayName&includeHiddenFolders=true"
	resp, err := c.do(ctx, &request{phase: PhaseFolder, method: http.MethodGet, url: u, accept: []int{http.StatusOK}, safe: true})
	if err != nil {
		return "", err
	}
	var page struct {
		Value []struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	if err := decodeJSON(resp, &page); err != nil {
		return "", &Error{Phase: PhaseFolder, Status: resp.StatusCode, Message: "unreadable folder list", Temporary: true, Err: err}
	}
	for _, f := range page.Value {
		if strings.EqualFold(f.DisplayName, name) && f.ID != "" {
			return f.ID, nil
		}
	}
	return "", nil
}

// queryEscape escapes a query value with %20 for spaces, which OData
// reads where a "+" may not be.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
