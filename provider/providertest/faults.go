package providertest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Grant types as sent in grant_type; Requests also accepts the short names "device_code" and "jwt-bearer".
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// OversizeBodyLen is the length of the body OversizedBody answers with: just over 1 MiB, the bound
// a careful client puts on a token response.
const OversizeBodyLen = 1<<20 + 1024

// Failure is an answer the server gives instead of handling a request. Delay is waited first (cut
// short when the client gives up or the server closes). A zero Status with an empty Body answers the
// request normally after the Delay: a slow but successful server. A zero Status with a Body answers
// 200. Content-Type defaults to application/json when Body starts with '{', else text/plain.
type Failure struct {
	Status int
	Body   string
	Header http.Header
	Delay  time.Duration
}

// AADSTS returns a Failure carrying a real-format Entra error body: error, error_description
// ("AADSTSnnn: description" plus the trace, correlation and timestamp lines), error_codes, timestamp,
// trace_id, correlation_id and error_uri; HTTP 401 for invalid_client, else 400. description may
// already start with "AADSTSnnn: ". The timestamp is the real time at the call.
func AADSTS(code int, errName, description string) Failure {
	status := http.StatusBadRequest
	if errName == errInvalidClient {
		status = http.StatusUnauthorized
	}
	body := buildEntraError(defaultErrorHost, time.Now(), "", code, errName, description)
	return Failure{Status: status, Body: string(body)}
}

// GoogleError returns a Failure with Google's error body {"error":...,"error_description":...}.
func GoogleError(status int, errName, description string) Failure {
	b, _ := json.Marshal(map[string]string{"error": errName, "error_description": description})
	return Failure{Status: status, Body: string(b)}
}

// TooManyRequests returns an HTTP 429 Failure with a Retry-After header of retryAfter (whole seconds,
// at least 1) and Entra's throttling body (AADSTS50196 temporarily_unavailable).
func TooManyRequests(retryAfter time.Duration) Failure {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	f := AADSTS(50196, "temporarily_unavailable",
		"The server terminated an operation because it encountered a client request loop. Please contact your app vendor.")
	f.Status = http.StatusTooManyRequests
	f.Header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return f
}

// ServerError returns a 5xx Failure (status 500 if status is not 5xx) with Entra's
// temporarily_unavailable body.
func ServerError(status int) Failure {
	if status < 500 || status > 599 {
		status = http.StatusInternalServerError
	}
	f := AADSTS(90033, "temporarily_unavailable", "A transient error has occurred. Please try again.")
	f.Status = status
	return f
}

// Slow returns a Failure that only delays: the request is then answered normally.
func Slow(d time.Duration) Failure { return Failure{Delay: d} }

// MalformedJSON returns a 200 Failure whose body is cut off in the middle of a JSON object.
func MalformedJSON() Failure {
	return Failure{Status: http.StatusOK, Body: `{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi`}
}

// OversizedBody returns a 200 Failure whose body is a syntactically valid JSON token response of
// OversizeBodyLen bytes.
func OversizedBody() Failure {
	head := `{"token_type":"Bearer","expires_in":3599,"access_token":"`
	tail := `"}`
	return Failure{Status: http.StatusOK, Body: head + strings.Repeat("A", OversizeBodyLen-len(head)-len(tail)) + tail}
}

type pendingFailure struct {
	f Failure
	n int
}

// FailNext makes the next n token-endpoint requests (Entra and Google /token) answer f. Calls queue
// up: FailNext(1, a); FailNext(2, b) answers a, b, b. Failed requests still count in Requests.
func (s *Server) FailNext(n int, f Failure) { s.queueFailure(&s.failures, n, f) }

// queueFailure adds n answers f to the queue q.
func (s *Server) queueFailure(q *[]pendingFailure, n int, f Failure) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	*q = append(*q, pendingFailure{f: f, n: n})
	s.mu.Unlock()
}

// injected answers the next failure of q, if any; it reports whether the request was answered.
func (s *Server) injected(w http.ResponseWriter, r *http.Request, q *[]pendingFailure) bool {
	s.mu.Lock()
	f, ok := takeFailure(q)
	s.mu.Unlock()
	return ok && s.serveFailure(w, r, f)
}

// FailIntrospection makes the next n introspection requests answer HTTP status (e.g. 503) with a
// short JSON error body.
func (s *Server) FailIntrospection(n int, status int) {
	if n <= 0 {
		return
	}
	b, _ := json.Marshal(map[string]string{"error": "temporarily_unavailable", "error_description": http.StatusText(status)})
	s.queueFailure(&s.introFailures, n, Failure{Status: status, Body: string(b)})
}

// takeFailure pops one failure from q.
func takeFailure(q *[]pendingFailure) (Failure, bool) {
	if len(*q) == 0 {
		return Failure{}, false
	}
	f := (*q)[0].f
	(*q)[0].n--
	if (*q)[0].n == 0 {
		*q = (*q)[1:]
	}
	return f, true
}

// serveFailure writes f. It reports whether the request was answered (false: handle it normally).
func (s *Server) serveFailure(w http.ResponseWriter, r *http.Request, f Failure) bool {
	if !s.sleep(r, f.Delay) {
		// The client gave up or the server is closing: answer something short so nothing hangs.
		http.Error(w, "providertest: delay interrupted", http.StatusServiceUnavailable)
		return true
	}
	if f.Status == 0 && f.Body == "" {
		return false
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if w.Header().Get("Content-Type") == "" {
		if strings.HasPrefix(f.Body, "{") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(f.Body))
	return true
}

// Requests returns the number of token-endpoint requests with that grant_type so far (Entra and
// Google together, including requests answered by FailNext and requests that failed). "" counts
// every token request; "device_code" and "jwt-bearer" stand for the URN grant types.
func (s *Server) Requests(grantType string) int {
	switch grantType {
	case "device_code":
		grantType = GrantDeviceCode
	case "jwt-bearer":
		grantType = GrantJWTBearer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if grantType == "" {
		return s.routes["token"]
	}
	return s.grants[grantType]
}
