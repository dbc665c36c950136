package browsertest

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// wireCookie is WebDriver's cookie object.
type wireCookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path"`
	Domain   string `json:"domain"`
	Secure   bool   `json:"secure"`
	HTTPOnly bool   `json:"httpOnly"`
	Expiry   *int64 `json:"expiry"` // seconds since 1970; none for a session cookie
	SameSite string `json:"sameSite"`
}

// Cookies returns the cookies the browser holds for the page it shows (those
// it would send to the page's URL), with their attributes as the browser
// stored them: HttpOnly ones included. Expires is zero for a session cookie.
//
// Chromium reports a cookie set without a SameSite attribute as Lax, its
// default, though it treats it more loosely (it still sends it on a
// cross-site POST in the first two minutes): to tell a missing attribute
// from Lax, look at the Set-Cookie header. SameSite is
// http.SameSiteDefaultMode only when the browser reports none.
func (b *Browser) Cookies() []*http.Cookie {
	b.t.Helper()
	var wire []wireCookie
	b.do(http.MethodGet, "cookie", nil, &wire)
	cookies := make([]*http.Cookie, len(wire))
	for i, w := range wire {
		cookies[i] = w.http()
	}
	return cookies
}

// Cookie returns the cookie named name that the browser holds for the page
// it shows, as Cookies does, or nil when there is none.
func (b *Browser) Cookie(name string) *http.Cookie {
	b.t.Helper()
	var w wireCookie
	err := b.Do(http.MethodGet, "cookie/"+url.PathEscape(name), nil, &w)
	if errors.Is(err, &Error{Code: "no such cookie"}) {
		return nil
	}
	if err != nil {
		b.t.Fatalf("browsertest: %v", err)
	}
	return w.http()
}

func (w wireCookie) http() *http.Cookie {
	c := &http.Cookie{
		Name: w.Name, Value: w.Value, Path: w.Path, Domain: w.Domain,
		Secure: w.Secure, HttpOnly: w.HTTPOnly,
	}
	if w.Expiry != nil {
		c.Expires = time.Unix(*w.Expiry, 0)
	}
	switch w.SameSite {
	case "Lax":
		c.SameSite = http.SameSiteLaxMode
	case "Strict":
		c.SameSite = http.SameSiteStrictMode
	case "None":
		c.SameSite = http.SameSiteNoneMode
	}
	return c
}
