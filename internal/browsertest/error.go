package browsertest

import (
	"fmt"
	"strings"
)

// Error is an error reported by the WebDriver server: an HTTP status of 400
// or more with an error object as the value of the response.
type Error struct {
	Command string // method and path below the session, e.g. "POST element"
	Status  int    // HTTP status code
	Code    string // WebDriver error code, e.g. "no such element"
	Message string // the server's message, without ChromeDriver's session line
}

// Error returns the command, the code and the message.
func (e *Error) Error() string {
	msg := e.Message
	if !strings.HasPrefix(msg, e.Code) {
		msg = e.Code + ": " + msg
	}
	return fmt.Sprintf("webdriver %s: %s", e.Command, msg)
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &browsertest.Error{Code: "no such element"}) tests for one
// kind of WebDriver error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// wireError is the value of an error response.
type wireError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// newError makes an *Error from a response's status and value. ChromeDriver
// appends a line with the browser's version to every message; it is dropped.
func newError(command string, status int, w wireError) *Error {
	msg, _, _ := strings.Cut(w.Message, "\n  (Session info:")
	code := w.Error
	if code == "" {
		code = "unknown error"
	}
	return &Error{Command: command, Status: status, Code: code, Message: strings.TrimSpace(msg)}
}
