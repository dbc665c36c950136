package authorize

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Device-flow error codes (RFC 8628 section 3.5, plus Entra's
// authorization_declined and bad_verification_code). x/oauth2 polls on
// through authorization_pending and slow_down; these end the wait.
const (
	deviceExpiredToken = "expired_token"
	deviceDeclined     = "authorization_declined"
	deviceAccessDenied = "access_denied"
	deviceBadCode      = "bad_verification_code"
)

var (
	// ErrDeviceExpired: the device code expired before the user approved it.
	ErrDeviceExpired = errors.New("authorize: device code expired before the user approved it")
	// ErrDeviceDeclined: the user declined the request on the verification page.
	ErrDeviceDeclined = errors.New("authorize: the user declined the device authorization")
)

// DeviceFlow is the device authorization grant (RFC 8628): a program
// without a browser shows a code, the user enters it on another device, the
// program polls until the grant arrives and saves it.
//
// Polling goes through golang.org/x/oauth2's Config.DeviceAccessToken,
// which paces it on the wall clock: a poll every interval the server names
// (5 s when it names none; 1 s at the least, as the interval is in whole
// seconds), 5 s more after each slow_down, until the device code's
// expires_in has passed. Clock does not pace the polls.
//
// Any server that implements RFC 8628 serves it: oidc.NewDeviceFlow
// finds the endpoints by discovery, entra.NewDeviceFlow uses Entra ID's.
// The Client authenticates the same way at both endpoints, and its Params
// (resource indicators) go on every request. Google does not grant the
// Gmail scope to this flow.
type DeviceFlow struct {
	DeviceURL    string
	Client       *oauth.Client
	Scopes       []string
	Store        tokenstore.Store
	Key, Account string
	Logger       *slog.Logger
	// Clock stamps the saved grant and paces the extra wait a throttled
	// poll asks for (Retry-After); nil: retry.System.
	Clock retry.Clock
}

// DevicePrompt is what the user must see: the code to enter and where.
type DevicePrompt struct {
	UserCode        string
	VerificationURI string
	// VerificationURIComplete embeds the code (RFC 8628 3.2), for a QR code;
	// empty when the server sends none (Entra and Google do not).
	VerificationURIComplete string
	// Message is the server's ready sentence (Entra); for servers without
	// one it is composed from UserCode and VerificationURI.
	Message   string
	ExpiresIn time.Duration
}

// Authorize starts a device authorization, hands the code to prompt and
// polls the token endpoint until the user approves, declines
// (ErrDeviceDeclined), the code expires (ErrDeviceExpired) or ctx is done.
// On approval the grant is saved under Key and returned. A confidential
// client authenticates on every request, the start included.
//
// Throttling (429, 5xx) and network failures while polling do not end the
// wait: polling resumes after the next interval, or after the Retry-After
// the server named if that is longer. Any other refusal, or an answer that
// is not a token endpoint's, ends it with the typed error.
func (f *DeviceFlow) Authorize(ctx context.Context, prompt func(DevicePrompt) error) (*tokenstore.Record, error) {
	if f.Client == nil || f.Client.ID == "" {
		return nil, errors.New("authorize: DeviceFlow needs a Client with an ID")
	}
	if f.DeviceURL == "" || f.Store == nil || f.Key == "" {
		return nil, errors.New("authorize: DeviceFlow needs DeviceURL, Store and Key")
	}
	if prompt == nil {
		return nil, errors.New("authorize: DeviceFlow.Authorize needs a prompt function")
	}
	da, err := f.Client.DeviceAuth(ctx, f.DeviceURL, f.Scopes)
	if err != nil {
		return nil, fmt.Errorf("authorize: start device authorization: %w", provider.Annotate(err))
	}
	p := DevicePrompt{
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Message:                 da.Message,
		ExpiresIn:               da.ExpiresIn,
	}
	if p.Message == "" {
		p.Message = fmt.Sprintf("To sign in, open %s in a browser and enter the code %s.", p.VerificationURI, p.UserCode)
	}
	if err := prompt(p); err != nil {
		return nil, fmt.Errorf("authorize: device authorization prompt: %w", err)
	}

	for {
		tok, err := f.Client.DeviceAccessToken(ctx, da)
		if err == nil {
			rec, err := SaveGrant(ctx, f.Store, f.Key, f.Account, f.Scopes, tok, f.now())
			if err != nil {
				return nil, err
			}
			f.logger().InfoContext(ctx, "mailbox authorized by device code", "account", f.Account, "key", f.Key)
			return rec, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("authorize: device authorization: %w", ctx.Err())
		}
		var te *oauth.TokenError
		var ue *oauth.UnavailableError
		var ne *oauth.NetworkError
		switch {
		case errors.As(err, &te):
			switch te.Code() {
			case deviceExpiredToken:
				return nil, fmt.Errorf("authorize: device authorization: %w: %w", ErrDeviceExpired, err)
			case deviceDeclined, deviceAccessDenied:
				return nil, fmt.Errorf("authorize: device authorization: %w: %w", ErrDeviceDeclined, err)
			case deviceBadCode:
				return nil, fmt.Errorf("authorize: device authorization: the server does not know the device code: %w", err)
			}
			return nil, fmt.Errorf("authorize: device authorization: %w", provider.Annotate(err))
		case !time.Now().Before(da.Expiry):
			// x/oauth2 stops polling at the expiry, on the wall clock.
			return nil, fmt.Errorf("authorize: device authorization: %w (after %s)", ErrDeviceExpired, da.ExpiresIn)
		case errors.As(err, &ue):
			f.logger().WarnContext(ctx, "device flow: token endpoint unavailable, still waiting", "status", ue.StatusCode, "retry_after", ue.RetryAfter)
			if extra := ue.RetryAfter - da.Interval; extra > 0 {
				if err := f.sleep(ctx, extra); err != nil {
					return nil, fmt.Errorf("authorize: device authorization: %w", err)
				}
			}
			continue
		case errors.As(err, &ne):
			f.logger().WarnContext(ctx, "device flow: token endpoint unreachable, still waiting", "err", ne)
			continue
		}
		return nil, fmt.Errorf("authorize: device authorization: %w", provider.Annotate(err))
	}
}

func (f *DeviceFlow) sleep(ctx context.Context, d time.Duration) error {
	return retry.Or(f.Clock).Sleep(ctx, d)
}

func (f *DeviceFlow) now() time.Time { return retry.Or(f.Clock).Now() }

func (f *DeviceFlow) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}
