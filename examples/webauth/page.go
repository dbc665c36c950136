package main

import (
	"html/template"
	"net/http"
)

// pageData is what the settings page shows. html/template escapes every
// field: an error text may carry what an identity provider or a mail server
// said, and must never become markup.
type pageData struct {
	Provider    string
	Mailbox     string
	CallbackURL string
	CSRF        string

	Authorized bool
	Account    string
	Scopes     string
	Saved      string // when the grant was last saved
	Expiry     string // when the stored access token expires
	Expired    bool
	StoreError string

	LastError *event
	LastSent  *event
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{"time": formatTime}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Mail settings</title>
<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;line-height:1.5}
th{text-align:left;padding-right:1em;vertical-align:top}code{background:#f3f3f3;padding:.1em .3em}
.ok{color:#060}.bad{color:#a00}.fix{border-left:4px solid #c60;padding-left:1em}form{display:inline}</style>
</head><body>
<h1>Mail settings</h1>

<h2>Callback URL</h2>
<p>Register this redirect URI in the app registration (Entra ID: Authentication, platform Web) or the OAuth client (Google: Authorized redirect URIs):</p>
<p><code>{{.CallbackURL}}</code></p>

<h2>Mailbox</h2>
<table>
<tr><th>Provider</th><td>{{.Provider}}</td></tr>
<tr><th>Mailbox</th><td>{{.Mailbox}}</td></tr>
<tr><th>State</th><td>{{if .Authorized}}<span class="ok" id="state">authorized</span>{{else}}<span class="bad" id="state">not authorized</span>{{end}}</td></tr>
{{- if .Authorized}}
<tr><th>Account</th><td>{{.Account}}</td></tr>
<tr><th>Scopes</th><td>{{.Scopes}}</td></tr>
<tr><th>Grant saved</th><td>{{.Saved}}</td></tr>
<tr><th>Access token expires</th><td id="expiry">{{.Expiry}}{{if .Expired}} (expired: the next use refreshes it){{end}}</td></tr>
{{- end}}
{{- if .StoreError}}
<tr><th>Store</th><td class="bad">{{.StoreError}}</td></tr>
{{- end}}
</table>

<p>
<form method="post" action="/authorize"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Authorize mailbox</button></form>
{{if .Authorized}}<form method="post" action="/send-test"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Send a test</button></form>{{end}}
</p>
{{with .LastSent}}
<p class="ok" id="last-sent">{{time .At}}: {{.Text}}</p>
{{end}}
{{- with .LastError}}
<h2>Last error</h2>
<div class="fix" id="last-error">
<p>{{time .At}}: {{.Text}}</p>
{{- with .Diagnosis}}
<p><strong>Kind:</strong> {{.Kind}}{{if .Code}} &middot; <strong>Code:</strong> <code>{{.Code}}</code>{{end}}</p>
<p><strong>What went wrong:</strong> {{.Summary}}</p>
{{if .Fix}}<p><strong>How to fix it:</strong> {{.Fix}}</p>{{end}}
{{- end}}
</div>
{{- end}}
</body></html>
`))

// renderPage writes the settings page.
func renderPage(w http.ResponseWriter, status int, v pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, v)
}
