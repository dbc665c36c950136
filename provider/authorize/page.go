package authorize

import (
	"html/template"
	"net/http"

	"github.com/mailoauth/mailoauth/provider"
)

// page is what the authorization handlers show a browser. Every field is
// HTML-escaped by the template: the identity provider's error text comes
// from the query string and must never become markup.
type page struct {
	Title     string
	Lines     []string
	Code      string // the provider's error code, if any
	Detail    string // the provider's error description, if any
	URI       string // the provider's error URI, if any
	Diagnosis *provider.Diagnosis
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;line-height:1.5}
code,pre{background:#f3f3f3;padding:.1em .3em}pre{white-space:pre-wrap;padding:.6em}.fix{border-left:4px solid #c60;padding-left:1em}</style>
</head><body>
<h1>{{.Title}}</h1>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{if .Code}}<p>The identity provider answered with error <code>{{.Code}}</code>{{if .Detail}}:</p>
<pre>{{.Detail}}</pre>{{else}}.</p>{{end}}
{{end}}{{if .URI}}<p>More information: <a href="{{.URI}}" rel="noreferrer">{{.URI}}</a></p>
{{end}}{{with .Diagnosis}}<div class="fix"><p><strong>What went wrong:</strong> {{.Summary}}</p>
{{if .Fix}}<p><strong>How to fix it:</strong> {{.Fix}}</p>{{end}}</div>
{{end}}</body></html>
`))

// renderPage writes p with status. Headers keep the page out of caches and
// frames, and the Referer (which would carry the code) away from links.
func renderPage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	p.URI = safeLink(p.URI)
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}
