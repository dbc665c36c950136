package workload

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/mailoauth/mailoauth/internal/fetch"
)

// errorAnswer is an error answer of any of the endpoints: the metadata
// service's {"error", "error_description"}, App Service's {"statusCode",
// "message"} (field case varies; encoding/json ignores it).
type errorAnswer struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Message          string `json:"message"`
}

// Texts that tell the managed identity endpoints' 400s apart. Microsoft
// gives them no code of their own: "Identity not found" and "Multiple user
// assigned identities exist" come from the metadata service, "No User
// Assigned or Delegated Managed Identity found" and "No MSI found" from App
// Service (as reported in https://github.com/Azure/azure-sdk-for-net/issues/37278,
// https://github.com/dotnet/docker-tools/issues/1286,
// https://github.com/Azure-Samples/azure-search-openai-demo/issues/2148 and
// https://github.com/MicrosoftDocs/azure-docs/issues/43543).
var (
	notFoundTexts = []string{"identity not found", "no user assigned or delegated managed identity found",
		"no msi found", "no managed identity found"}
	multipleTexts = []string{"multiple user assigned identities exist"}
	// Entra's codes for a resource the tenant does not know.
	unknownResourceTexts = []string{"AADSTS500011", "AADSTS50001:"}
)

// answerError classifies an answer other than 200. secret is scrubbed
// from the text kept.
func answerError(source, endpoint string, ans *fetch.Answer, secret string) *Error {
	e := &Error{Source: source, Endpoint: endpoint, Status: ans.Status, RetryAfter: ans.Wait}
	var a errorAnswer
	if !ans.TooLarge && json.Unmarshal(ans.Body, &a) == nil {
		e.Code = fetch.Scrub(a.Error, secret)
		desc := a.ErrorDescription
		if desc == "" {
			desc = a.Message
		}
		e.Description = fetch.Scrub(desc, secret)
	} else if !strings.HasPrefix(strings.TrimSpace(string(ans.Body)), "<") {
		e.Description = fetch.Scrub(string(ans.Body), secret)
	}
	text := strings.ToLower(e.Description)
	switch {
	case ans.Status == http.StatusTooManyRequests:
		e.Reason = ReasonThrottled
	case ans.Status >= 500 || source == sourceIMDS && (ans.Status == http.StatusNotFound || ans.Status == http.StatusGone):
		e.Reason = ReasonUnavailable
	case containsAny(text, multipleTexts):
		e.Reason = ReasonMultipleIdentities
	case containsAny(text, notFoundTexts):
		e.Reason = ReasonIdentityNotFound
	case e.Code == "invalid_resource" || containsAny(text, unknownResourceTexts):
		e.Reason = ReasonUnknownResource
	default:
		e.Reason = ReasonRefused
	}
	return e
}

// unreachable is the Error of a request that got no answer.
func unreachable(source, endpoint string, err error) *Error {
	return &Error{Source: source, Reason: ReasonUnavailable, Endpoint: endpoint, Err: err}
}

func containsAny(lower string, texts []string) bool {
	for _, t := range texts {
		if strings.Contains(lower, strings.ToLower(t)) {
			return true
		}
	}
	return false
}
