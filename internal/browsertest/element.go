package browsertest

import (
	"errors"
	"net/http"
	"slices"
)

// elementKey is the property naming an element reference in WebDriver's
// JSON (the "web element identifier").
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// transient are the error codes an action on an element retries until
// Timeout: the page may still be loading or changing.
var transient = []string{
	"no such element",
	"stale element reference",
	"element not interactable",
	"element click intercepted",
}

// Text returns the rendered text of the first element matching the CSS
// selector, waiting up to Timeout for one to appear.
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	var s string
	b.act(selector, func(id string) error {
		var err error
		s, err = b.elementText(id)
		return err
	})
	return s
}

// Click clicks the first element matching the CSS selector, as a user would
// (it must be visible and not covered), waiting up to Timeout for one. When
// the click starts a navigation, Click returns after the new page loaded.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.act(selector, func(id string) error {
		return b.Do(http.MethodPost, "element/"+id+"/click", nil, nil)
	})
}

// Fill clears the first form field matching the CSS selector and types
// value into it, waiting up to Timeout for the field.
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	b.act(selector, func(id string) error {
		if err := b.Do(http.MethodPost, "element/"+id+"/clear", nil, nil); err != nil {
			return err
		}
		return b.Do(http.MethodPost, "element/"+id+"/value", map[string]string{"text": value}, nil)
	})
}

// Submit submits the form that the first element matching the CSS selector
// is or belongs to, as pressing Enter in it would: the form's validation and
// submit handlers run. It waits up to Timeout for the element, not for the
// page the form leads to (use WaitURL or WaitText).
func (b *Browser) Submit(selector string) {
	b.t.Helper()
	const script = `const e = arguments[0];
const f = e instanceof HTMLFormElement ? e : e.form;
if (!f) throw new Error("not a form, nor in one");
f.requestSubmit();`
	b.act(selector, func(id string) error {
		in := map[string]any{"script": script, "args": []any{map[string]string{elementKey: id}}}
		return b.Do(http.MethodPost, "execute/sync", in, nil)
	})
}

// Count returns how many elements match the CSS selector now, without
// waiting: 0 tells that something is not on the page.
func (b *Browser) Count(selector string) int {
	b.t.Helper()
	var found []map[string]string
	b.do(http.MethodPost, "elements", cssQuery(selector), &found)
	return len(found)
}

// act finds the first element matching selector and calls f with its id,
// again while either fails with a transient error, until Timeout. It fails
// the test with the last error.
func (b *Browser) act(selector string, f func(id string) error) {
	b.t.Helper()
	var err error
	b.poll(func() bool {
		var id string
		if id, err = b.find(selector); err == nil {
			err = f(id)
		}
		var we *Error
		return err == nil || !errors.As(err, &we) || !slices.Contains(transient, we.Code)
	})
	if err != nil {
		b.t.Fatalf("browsertest: %q: %v", selector, err)
	}
}

// find returns the id of the first element matching selector.
func (b *Browser) find(selector string) (string, error) {
	var ref map[string]string
	if err := b.Do(http.MethodPost, "element", cssQuery(selector), &ref); err != nil {
		return "", err
	}
	return ref[elementKey], nil
}

// text is Text returning the error instead, for the waits.
func (b *Browser) text(selector string) (string, error) {
	id, err := b.find(selector)
	if err != nil {
		return "", err
	}
	return b.elementText(id)
}

func (b *Browser) elementText(id string) (string, error) {
	var s string
	err := b.Do(http.MethodGet, "element/"+id+"/text", nil, &s)
	return s, err
}

func cssQuery(selector string) map[string]string {
	return map[string]string{"using": "css selector", "value": selector}
}
