package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	retrypkg "github.com/mailoauth/mailoauth/retry"
)

// Layer names where in the stack a catalogue entry's code appears.
type Layer string

// The layers of the catalogue.
const (
	// LayerOAuth: an OAuth error answer, from a token endpoint or on an
	// authorization callback. Code is "AADSTS<n>" (matched against Entra's
	// error_codes), an OAuth "error" value, or a sub-classification (Entra's
	// "suberror", Google's "error_subtype"); "HTTP 429" and "HTTP 5xx" are
	// the throttling and failure statuses of the endpoint itself.
	LayerOAuth Layer = "oauth"
	// LayerSMTP: an SMTP reply. Code is "<reply> <enhanced>", "<enhanced>"
	// or "<reply>"; an enhanced code may end in a range ("4.7.500-699").
	LayerSMTP Layer = "smtp"
	// LayerIMAP: an IMAP status response. Code is "<type> [<code>]",
	// "[<code>]" or "<type>" (NO, BAD, BYE).
	LayerIMAP Layer = "imap"
	// LayerSASL: the JSON error challenge a server sends instead of failing
	// at once (*auth.ChallengeError). Code is its "status".
	LayerSASL Layer = "sasl"
	// LayerTLS: the TLS handshake.
	LayerTLS Layer = "tls"
	// LayerNetwork: reaching the server at all.
	LayerNetwork Layer = "network"
	// LayerStore: the local token store, when it cannot hand out a grant
	// it holds. Code is what the store's error returns from its
	// DiagnosisCode method ("store: wrong key").
	LayerStore Layer = "store"
	// LayerConfig: a configuration that cannot work, found before anything
	// was sent (*ConfigError). Code is "config"; the diagnosis's Summary is
	// the error's Reason.
	LayerConfig Layer = "config"
)

// Providers named in Entry.Provider.
const (
	ProviderEntra    = "Entra ID"
	ProviderExchange = "Exchange Online"
	ProviderGoogle   = "Google"
	ProviderGeneric  = "Generic"
)

// Entry is one failure the catalogue knows: where it shows, how it is
// recognised, and what to do about it. Entries are data; Catalogue lists
// them for documentation.
type Entry struct {
	Provider string // ProviderEntra, ProviderExchange, ProviderGoogle or ProviderGeneric
	Layer    Layer
	Code     string // the code as it appears (see Layer); Diagnosis.Code
	// Match is text the reply (SMTP or IMAP text, OAuth error_description)
	// must contain as well, ignoring case; empty: the code alone decides.
	Match string
	// Retried marks the entry for a refusal of a token fresh from the
	// identity provider, after the transport replaced the refused one and
	// tried once more (Reply.Retried): the token's age is ruled out, and
	// the entry names the concrete cause. Such a refusal never gets a
	// StaleToken entry; the entry of the first refusal has the same
	// Provider, Layer, Code and Match without Retried, and serves every
	// caller that cannot tell (net/smtp's errors, say).
	Retried bool
	// Endpoint, for LayerOAuth, limits the entry to answers of one
	// endpoint (EndpointToken, EndpointDeviceAuthorization,
	// EndpointCallback): such an entry beats the one for the same code
	// from any endpoint. Empty: any endpoint.
	Endpoint string
	Kind     Kind
	// Summary (one sentence: what went wrong) and Fix (the concrete step: a
	// portal page, a cmdlet, a setting) are in the operator's words: "the
	// app registration's secret value", never a Go identifier, so that a
	// command line or a web page can show them as they are; a program adds
	// the name of its own flag or variable.
	Summary string
	Fix     string
}

// Catalogue returns a copy of every entry Diagnose knows, Entra ID and
// Exchange Online first, then Google, then generic servers and networks.
// Changing the copy changes nothing.
func Catalogue() []Entry {
	all := make([]Entry, 0, len(entraEntries)+len(googleEntries)+len(mailEntries))
	all = append(all, entraEntries...)
	all = append(all, googleEntries...)
	all = append(all, mailEntries...)
	return all
}

// Diagnose explains err: it looks through every wrapped layer (token
// endpoint, authorization callback, SMTP, IMAP, SASL challenge, TLS,
// network, the local token store, a *ConfigError) for a code the catalogue
// knows, and returns a new Diagnosis the caller may keep. When several
// layers match, the most specific entry wins
// (an AADSTS number beats the OAuth error string; a 535 5.7.139 with its
// text beats a bare 535). A Diagnosis already in err's chain is returned as
// it is. As a last resort Diagnose scans err's text for AADSTS numbers,
// SMTP enhanced codes and distinctive IMAP texts, but only ever to pick an
// entry of the catalogue. It returns nil when nothing is known about err,
// and for a cancelled context.
//
// A network failure, an HTTP 5xx or a 429 is always Transient, never
// Reauthorize. A refusal the transport marked Reply.Retried (a token fresh
// from the identity provider was refused too) is never StaleToken: its
// diagnosis names what to check instead of the token's age.
func Diagnose(err error) *Diagnosis {
	d, _ := diagnose(err)
	return d
}

// diagnose is Diagnose that also returns the catalogue entry it used (nil
// for a Diagnosis found in the chain).
func diagnose(err error) (*Diagnosis, *Entry) {
	if err == nil {
		return nil, nil
	}
	c := candidates{}
	walk(err, func(e error) {
		if r, ok := e.(Replier); ok {
			reply := r.Reply()
			c.retried = c.retried || reply.Retried
			if c.endpoint == "" && reply.Layer == LayerOAuth {
				c.endpoint = reply.Endpoint
			}
		}
		if ce, ok := e.(*auth.ChallengeError); ok && c.scope == "" {
			c.scope = ce.Scope
		}
	})
	walk(err, c.visit)
	if c.attached != nil {
		return c.attached, nil
	}
	if c.canceled {
		return nil, nil
	}
	if c.best == nil || c.score < scoreTextScan {
		c.scanText(errorText(err))
	}
	if c.best == nil {
		return nil, nil
	}
	d := &Diagnosis{Kind: c.best.Kind, Code: c.best.Code, Summary: c.best.Summary, Fix: c.best.Fix}
	if c.code != "" {
		d.Code = c.code
	}
	var details []string
	if c.best.Layer == LayerOAuth && endpointWords[c.endpoint] != "" {
		details = append(details, endpointWords[c.endpoint])
	}
	if c.retried && c.scope != "" && c.best.Kind == Misconfigured && mailLayers[c.best.Layer] {
		details = append(details, "the mail server asks for the scope "+quoteServerText(c.scope))
	}
	if c.detail != "" {
		details = append(details, c.detail)
	}
	if len(details) > 0 {
		d.Summary = strings.TrimSuffix(d.Summary, ".") + " (" + strings.Join(details, "; ") + ")."
	}
	if c.best.Layer == LayerConfig && c.reason != "" {
		d.Summary = sentence(c.reason)
	}
	return d, c.best
}

// mailLayers are the layers of a mail server's answer to a token.
var mailLayers = map[Layer]bool{LayerSMTP: true, LayerIMAP: true, LayerSASL: true}

// maxQuoted bounds the server's text a summary quotes.
const maxQuoted = 80

// quoteServerText quotes s, a server's words, for a summary: control
// characters escaped, at most maxQuoted bytes.
func quoteServerText(s string) string {
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	return strconv.Quote(strings.ToValidUTF8(s, "?"))
}

// endpointWords say, in a diagnosis's summary, which endpoint answered.
var endpointWords = map[string]string{
	EndpointToken:               "answered by the token endpoint",
	EndpointDeviceAuthorization: "answered by the device authorization endpoint",
	EndpointCallback:            "answered on the authorization callback",
}

// sentence makes s, a ConfigError's Reason, a Summary: a capital first and
// a full stop last.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, "?") {
		s += "."
	}
	return s
}

// errorText is err.Error(), or "" when that panics (some error types
// panic on their zero value, as oauth2.RetrieveError does without a
// Response): Diagnose never panics.
func errorText(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	return err.Error()
}

// walk calls visit on err and every error it wraps, depth first, in the
// order Unwrap gives them.
func walk(err error, visit func(error)) {
	const maxDepth = 64 // a defence against cyclic or absurdly deep chains
	var rec func(error, int)
	rec = func(e error, depth int) {
		if e == nil || depth > maxDepth {
			return
		}
		visit(e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			rec(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				rec(inner, depth+1)
			}
		}
	}
	rec(err, 0)
}

// Specificity of a match: the higher, the more the entry says about this
// very failure. Ties go as outranks says, then to the outer error.
const (
	scoreAADSTS        = 90
	scoreLocal         = 85 // the store's or the configuration's own verdict
	scoreSubtype       = 80
	scoreTextBonus     = 5 // added when an entry's Match text is present
	scoreEndpointBonus = 3 // added when an entry is for the endpoint that answered
	scoreEnhanced      = 60
	scoreIMAPCode      = 60
	scoreOAuthError    = 60
	scoreReplyCode     = 50
	scoreIMAPType      = 50
	scoreSASL          = 45
	scoreTLS           = 40
	scoreHTTPStatus    = 30
	scoreReplyClass    = 20
	scoreTextScan      = 15
	scoreNetwork       = 11 // a known errno, EOF, a timeout, DNS
	scoreNetworkAny    = 10 // any other net.Error
	scoreSASLGeneric   = 40
)

// candidates keeps the best entry seen so far.
type candidates struct {
	attached *Diagnosis // the first Diagnosis already in the chain
	canceled bool       // the chain holds context.Canceled
	retried  bool       // a server refused a token fresh from the identity provider too
	endpoint string     // the endpoint of the first OAuth answer in the chain (Reply.Endpoint)
	scope    string     // the scope the first error challenge in the chain asks for
	reason   string     // the first ConfigError's Reason, the summary of its entry
	best     *Entry
	score    int
	code     string // overrides best.Code (the AADSTS number found, say)
	detail   string // appended to the summary (a backoff the server asked for)
}

func (c *candidates) offer(e *Entry, score int, code, detail string) {
	if e == nil || !c.fits(e) {
		return
	}
	if c.best != nil && !outranks(e, score, c.best, c.score) {
		return
	}
	c.best, c.score, c.code, c.detail = e, score, code, detail
}

// outranks reports whether entry e at score says more than best at
// bestScore: a higher score; at the same score, the entry for a fresh token
// refused too over the first refusal's, then the longer Match.
func outranks(e *Entry, score int, best *Entry, bestScore int) bool {
	switch {
	case score != bestScore:
		return score > bestScore
	case e.Retried != best.Retried:
		return e.Retried
	}
	return len(e.Match) > len(best.Match)
}

// fits reports whether e may explain a failure of this chain: an entry for
// the refusal of a fresh token only when a server refused one, and then no
// StaleToken entry, since the token was refreshed already.
func (c *candidates) fits(e *Entry) bool {
	if c.retried {
		return e.Retried || e.Kind != StaleToken
	}
	return !e.Retried
}

// visit offers the entries that match one error of the chain.
func (c *candidates) visit(err error) {
	switch e := err.(type) {
	case *Diagnosis:
		if c.attached == nil {
			c.attached = e
		}
	case *oauth2.RetrieveError:
		a := answerFromRetrieveError(e)
		c.offerOAuth(a)
	case *textproto.Error:
		// net/smtp's replies keep the enhanced code inside the text.
		enhanced, text := splitEnhanced(e.Msg)
		c.offerSMTP(e.Code, enhanced, text, 0)
	case Replier:
		c.offerReply(e.Reply())
	case *auth.ChallengeError:
		c.offerSASL(e)
	case *ConfigError:
		c.offer(lookup(LayerConfig, codeConfig), scoreLocal, "", "")
		if c.reason == "" {
			c.reason = e.Reason
		}
	case diagnosisCoder:
		c.offer(lookup(LayerStore, e.DiagnosisCode()), scoreLocal, "", "")
	case tls.RecordHeaderError, *tls.RecordHeaderError:
		c.offer(lookup(LayerTLS, codeNotTLS), scoreTLS, "", "")
	case *tls.CertificateVerificationError, x509.UnknownAuthorityError, x509.HostnameError, x509.CertificateInvalidError,
		*x509.UnknownAuthorityError, *x509.HostnameError, *x509.CertificateInvalidError:
		c.offer(lookup(LayerTLS, codeCertificate), scoreTLS, "", "")
	default:
		c.offerOther(err)
	}
}

// diagnosisCoder is an error that names its catalogue entry of the store
// layer itself. The token store's errors do ("store: wrong key"), so that
// Diagnose explains them without provider importing the store.
type diagnosisCoder interface {
	DiagnosisCode() string
}

// leadingEnhanced is an RFC 3463 enhanced status code opening a reply text.
var leadingEnhanced = regexp.MustCompile(`^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)`)

// splitEnhanced splits the enhanced status code off the start of an SMTP
// reply text, as net/smtp leaves it; enhanced is empty when there is none.
func splitEnhanced(msg string) (enhanced, text string) {
	m := leadingEnhanced.FindStringSubmatchIndex(msg)
	if m == nil {
		return "", msg
	}
	return msg[m[2]:m[3]], msg[m[1]:]
}

// offerOther recognises TLS alerts and network failures, which come as
// values of many types.
func (c *candidates) offerOther(err error) {
	if op, ok := err.(*net.OpError); ok && op.Op == "remote error" && op.Err != nil &&
		strings.Contains(op.Err.Error(), "protocol version") {
		c.offer(lookup(LayerTLS, codeTLSVersion), scoreTLS, "", "")
		return
	}
	if strings.HasPrefix(errorText(err), "tls: server selected unsupported protocol version") {
		c.offer(lookup(LayerTLS, codeTLSVersion), scoreTLS, "", "")
		return
	}
	if err == context.Canceled {
		c.canceled = true
		return
	}
	var code string
	switch {
	case err == context.DeadlineExceeded:
		code = codeTimeout
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		code = codeEOF
	case err == syscall.ECONNRESET || err == syscall.EPIPE || err == syscall.ECONNABORTED:
		code = codeReset
	case err == syscall.ECONNREFUSED:
		code = codeRefused
	default:
		switch e := err.(type) {
		case *net.DNSError:
			code = codeDNS
		case net.Error:
			if !e.Timeout() {
				c.offer(lookup(LayerNetwork, codeNetwork), scoreNetworkAny, "", "")
				return
			}
			code = codeTimeout
		}
	}
	if code != "" {
		c.offer(lookup(LayerNetwork, code), scoreNetwork, "", "")
	}
}

// offerReply matches a server's answer that an error of the transports or
// of the OAuth client carries.
func (c *candidates) offerReply(r Reply) {
	switch r.Layer {
	case LayerSMTP:
		c.offerSMTP(r.Code, r.Enhanced, r.Text, 0)
	case LayerIMAP:
		c.offerIMAP(r.Status, r.Response, r.Text, 0)
	case LayerOAuth:
		unavailable := r.Code == http.StatusTooManyRequests || r.Code >= 500
		switch {
		case r.Unusable && !unavailable:
			c.offer(lookup(LayerOAuth, codeUnusableAnswer), scoreHTTPStatus, "", "")
		case r.Response == "" && r.Text == "" && !unavailable:
			// Nothing to match; an answer further down the chain may say more.
		default:
			c.offerOAuth(oauthAnswer{err: r.Response, desc: r.Text, codes: aadstsInText(r.Text), status: r.Code, retryAfter: r.Wait})
		}
	}
}

// oauthAnswer is an OAuth error answer reduced to what the catalogue
// matches on.
type oauthAnswer struct {
	err        string   // "error"
	desc       string   // "error_description"
	codes      []int    // Entra's error_codes, or AADSTS numbers in desc
	subtypes   []string // Entra's suberror, Google's error_subtype and error_code
	status     int      // HTTP status; 0 when unknown (a callback)
	retryAfter time.Duration
	header     http.Header
}

// errorBody is the JSON of an Entra or Google error answer; every field is
// optional.
type errorBody struct {
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	ErrorCodes       []int           `json:"error_codes"`
	Suberror         string          `json:"suberror"`
	ErrorSubtype     string          `json:"error_subtype"`
	ErrorCode        json.RawMessage `json:"error_code"` // Google: "rate_limit_exceeded"
}

func answerFromRetrieveError(e *oauth2.RetrieveError) oauthAnswer {
	a := oauthAnswer{err: e.ErrorCode, desc: e.ErrorDescription}
	if e.Response != nil {
		a.status = e.Response.StatusCode
		a.header = e.Response.Header
	}
	var b errorBody
	if len(e.Body) > 0 && json.Unmarshal(e.Body, &b) == nil {
		if a.err == "" {
			a.err = b.Error
		}
		if a.desc == "" {
			a.desc = b.ErrorDescription
		}
		a.codes = b.ErrorCodes
		for _, s := range []string{b.Suberror, b.ErrorSubtype, jsonString(b.ErrorCode)} {
			if s != "" {
				a.subtypes = append(a.subtypes, s)
			}
		}
	}
	if len(a.codes) == 0 {
		a.codes = aadstsInText(a.desc)
	}
	return a
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

var aadstsPattern = regexp.MustCompile(`AADSTS(\d{4,8})\b`)

// aadstsInText returns the AADSTS numbers in s, in order.
func aadstsInText(s string) []int {
	var codes []int
	for _, m := range aadstsPattern.FindAllStringSubmatch(s, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			codes = append(codes, n)
		}
	}
	return codes
}

// offerOAuth matches an OAuth answer: AADSTS number first, then the
// sub-classification, then the error string with and without text. A
// throttled or failing endpoint (429, 5xx) only ever gives a Transient
// entry.
func (c *candidates) offerOAuth(a oauthAnswer) {
	unavailable := a.status == http.StatusTooManyRequests || a.status >= 500
	var (
		best      *Entry
		bestScore int
		bestCode  string
	)
	consider := func(e *Entry, score int, code string) {
		if unavailable && e.Kind != Transient {
			return
		}
		if best == nil || outranks(e, score, best, bestScore) {
			best, bestScore, bestCode = e, score, code
		}
	}
	fromHere := func(e *Entry) bool { return e.Endpoint == "" || e.Endpoint == c.endpoint }
	for _, n := range a.codes {
		code := "AADSTS" + strconv.Itoa(n)
		for _, e := range catalogueIndex.byLayer[LayerOAuth] {
			if e.Code == code && textHas(a.desc, e.Match) && fromHere(e) {
				consider(e, scoreAADSTS+textBonus(e)+endpointBonus(e), "")
			}
		}
	}
	for _, e := range catalogueIndex.byLayer[LayerOAuth] {
		if !textHas(a.desc, e.Match) || !fromHere(e) {
			continue
		}
		for _, s := range a.subtypes {
			if e.Code == s {
				consider(e, scoreSubtype+textBonus(e)+endpointBonus(e), "")
			}
		}
		if a.err != "" && e.Code == a.err {
			consider(e, scoreOAuthError+textBonus(e)+endpointBonus(e), "")
		}
	}
	detail := ""
	if unavailable {
		retry := a.retryAfter
		if retry == 0 && a.header != nil {
			retry = retrypkg.RetryAfter(a.header.Get("Retry-After"), time.Now())
		}
		if retry > 0 {
			detail = "the server asks to retry after " + retry.String()
		}
		if best == nil {
			code := codeHTTP5xx
			if a.status == http.StatusTooManyRequests {
				code = codeHTTP429
			}
			best, bestScore, bestCode = lookup(LayerOAuth, code), scoreHTTPStatus, "HTTP "+strconv.Itoa(a.status)
		}
	}
	if best != nil {
		c.offer(best, bestScore, bestCode, detail)
	}
}

// offerSMTP matches an SMTP reply. enhanced is "x.y.z" or "". score is
// added to the entry's own specificity (the text scan passes a negative
// one).
func (c *candidates) offerSMTP(reply int, enhanced, text string, penalty int) {
	for _, e := range catalogueIndex.byLayer[LayerSMTP] {
		p := catalogueIndex.smtp[e]
		if !textHas(text, e.Match) {
			continue
		}
		score := 0
		switch {
		case p.class != 0:
			if reply/100 != p.class {
				continue
			}
			score = scoreReplyClass
		case p.enhanced.set:
			if !p.enhanced.matches(enhanced) || p.reply != 0 && p.reply != reply {
				continue
			}
			score = scoreEnhanced
			if p.reply != 0 {
				score++
			}
		default:
			if p.reply != reply {
				continue
			}
			score = scoreReplyCode
		}
		code := ""
		if p.enhanced.isRange() {
			code = strings.TrimSpace(strconv.Itoa(reply) + " " + enhanced)
		}
		c.offer(e, score+textBonus(e)-penalty, code, "")
	}
}

// offerIMAP matches an IMAP status response.
func (c *candidates) offerIMAP(typ, code, text string, penalty int) {
	for _, e := range catalogueIndex.byLayer[LayerIMAP] {
		p := catalogueIndex.imap[e]
		if p.code != "" && !strings.EqualFold(p.code, code) || p.typ != "" && !strings.EqualFold(p.typ, typ) || !textHas(text, e.Match) {
			continue
		}
		score := scoreIMAPType
		if p.code != "" {
			score = scoreIMAPCode
			if p.typ != "" {
				score++
			}
		}
		detail := ""
		if wait, ok := retrypkg.Suggested(text); ok && e.Kind == Transient {
			detail = "the server asks to wait " + wait.Round(time.Second).String()
		}
		c.offer(e, score+textBonus(e)-penalty, "", detail)
	}
}

// offerSASL matches a server's JSON error challenge by its status.
// An entry for the status beats the generic one.
func (c *candidates) offerSASL(ce *auth.ChallengeError) {
	status := strings.TrimSpace(ce.Status)
	for _, e := range catalogueIndex.byLayer[LayerSASL] {
		switch {
		case status != "" && strings.EqualFold(e.Code, status):
			c.offer(e, scoreSASL, "", "")
		case e.Code == codeChallenge:
			c.offer(e, scoreSASLGeneric, "", "")
		}
	}
}

// smtpLine finds "535 5.7.3" or a lone "5.7.3" in text.
var smtpLine = regexp.MustCompile(`(?:^|[\s(\[;:,])(?:([2-5]\d\d)[ -])?([245]\.\d{1,3}\.\d{1,3})(?:$|[\s)\];:,.])`)

// scanText is the last resort: codes in the error text pick entries of
// the catalogue, with less weight than any typed match.
func (c *candidates) scanText(text string) {
	if codes := aadstsInText(text); len(codes) > 0 {
		for _, n := range codes {
			if e := lookup(LayerOAuth, "AADSTS"+strconv.Itoa(n)); e != nil {
				c.offer(e, scoreTextScan, "", "")
				break
			}
		}
	}
	for _, m := range smtpLine.FindAllStringSubmatch(text, -1) {
		reply, _ := strconv.Atoi(m[1])
		before := c.best
		c.offerSMTP(reply, m[2], text, scoreEnhanced-scoreTextScan)
		if c.best != before && c.best.Layer == LayerSMTP {
			// keep the first code found, the outermost reply
			break
		}
	}
	for _, e := range catalogueIndex.byLayer[LayerIMAP] {
		p := catalogueIndex.imap[e]
		if len(e.Match) < minScanMatch || !textHas(text, e.Match) {
			continue
		}
		if p.code != "" && !textHas(text, "["+p.code) {
			continue
		}
		c.offer(e, scoreTextScan+textBonus(e), "", "")
	}
}

// minScanMatch keeps short, common words from picking an IMAP entry in the
// text scan.
const minScanMatch = 12

// textHas reports whether s contains sub, ignoring case; an empty sub is in
// every string.
func textHas(s, sub string) bool {
	if sub == "" {
		return true
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// endpointBonus ranks an entry for one endpoint's answers above the
// entry for the same code from any endpoint.
func endpointBonus(e *Entry) int {
	if e.Endpoint != "" {
		return scoreEndpointBonus
	}
	return 0
}

func textBonus(e *Entry) int {
	if e.Match != "" {
		return scoreTextBonus
	}
	return 0
}

// Codes of generic entries Diagnose looks up by name.
const (
	codeHTTP429        = "HTTP 429"
	codeHTTP5xx        = "HTTP 5xx"
	codeUnusableAnswer = "unusable answer"
	codeChallenge      = "challenge"
	codeTLSVersion     = "protocol version"
	codeCertificate    = "certificate"
	codeNotTLS         = "not TLS"
	codeTimeout        = "timeout"
	codeEOF            = "EOF"
	codeReset          = "connection reset"
	codeRefused        = "connection refused"
	codeDNS            = "DNS"
	codeNetwork        = "network"
	codeConfig         = "config"
	// The codes the token store's errors return from DiagnosisCode.
	codeStoreNoKey    = "store: encrypted without key"
	codeStoreWrongKey = "store: wrong key"
	codeStoreCorrupt  = "store: unreadable"
)

// index is the catalogue arranged for matching. It is built once from the
// entry tables and never changes.
type index struct {
	byLayer map[Layer][]*Entry
	byCode  map[Layer]map[string]*Entry // first entry of a code
	smtp    map[*Entry]smtpPattern
	imap    map[*Entry]imapPattern
}

var catalogueIndex = buildIndex(entraEntries, googleEntries, mailEntries)

func buildIndex(tables ...[]Entry) *index {
	x := &index{
		byLayer: map[Layer][]*Entry{},
		byCode:  map[Layer]map[string]*Entry{},
		smtp:    map[*Entry]smtpPattern{},
		imap:    map[*Entry]imapPattern{},
	}
	for _, t := range tables {
		for i := range t {
			e := &t[i]
			x.byLayer[e.Layer] = append(x.byLayer[e.Layer], e)
			if x.byCode[e.Layer] == nil {
				x.byCode[e.Layer] = map[string]*Entry{}
			}
			if _, ok := x.byCode[e.Layer][e.Code]; !ok {
				x.byCode[e.Layer][e.Code] = e
			}
			switch e.Layer {
			case LayerSMTP:
				x.smtp[e] = parseSMTPPattern(e.Code)
			case LayerIMAP:
				x.imap[e] = parseIMAPPattern(e.Code)
			}
		}
	}
	return x
}

// lookup returns the first entry of layer with code, or nil.
func lookup(layer Layer, code string) *Entry {
	return catalogueIndex.byCode[layer][code]
}

// smtpPattern is the parsed Code of an SMTP entry: "535 5.7.139",
// "5.7.60", "535", "4xx" or "451 4.7.500-699".
type smtpPattern struct {
	reply    int // 0: any
	class    int // "4xx": 4; 0: not a class pattern
	enhanced enhancedPattern
}

type enhancedPattern struct {
	set          bool
	class, subj  int
	detLo, detHi int
}

func (p enhancedPattern) isRange() bool { return p.set && p.detLo != p.detHi }

// matches reports whether the enhanced code s ("x.y.z") is in p.
func (p enhancedPattern) matches(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	var n [3]int
	for i, part := range parts {
		v, err := strconv.Atoi(part)
		if err != nil {
			return false
		}
		n[i] = v
	}
	return n[0] == p.class && n[1] == p.subj && n[2] >= p.detLo && n[2] <= p.detHi
}

func parseSMTPPattern(code string) smtpPattern {
	var p smtpPattern
	for _, f := range strings.Fields(code) {
		switch {
		case len(f) == 3 && strings.HasSuffix(f, "xx"):
			p.class, _ = strconv.Atoi(f[:1])
		case !strings.Contains(f, "."):
			p.reply, _ = strconv.Atoi(f)
		default:
			parts := strings.SplitN(f, ".", 3)
			if len(parts) != 3 {
				continue
			}
			p.enhanced.set = true
			p.enhanced.class, _ = strconv.Atoi(parts[0])
			p.enhanced.subj, _ = strconv.Atoi(parts[1])
			lo, hi, isRange := strings.Cut(parts[2], "-")
			p.enhanced.detLo, _ = strconv.Atoi(lo)
			p.enhanced.detHi = p.enhanced.detLo
			if isRange {
				p.enhanced.detHi, _ = strconv.Atoi(hi)
			}
		}
	}
	return p
}

// imapPattern is the parsed Code of an IMAP entry: "NO [UNAVAILABLE]",
// "[AUTHENTICATIONFAILED]" or "BAD".
type imapPattern struct {
	typ  string // NO, BAD, BYE; "": any
	code string // response code without brackets; "": any
}

func parseIMAPPattern(code string) imapPattern {
	var p imapPattern
	for _, f := range strings.Fields(code) {
		if strings.HasPrefix(f, "[") {
			p.code = strings.Trim(f, "[]")
		} else {
			p.typ = f
		}
	}
	return p
}
