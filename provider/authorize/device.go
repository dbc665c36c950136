package authorize

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Device authorization grant (RFC 8628) numbers.
const (
	// DefaultDeviceInterval is the polling interval when the server names none
	// (RFC 8628 section 3.2).
	DefaultDeviceInterval = 5 * time.Second
	// deviceSlowDownStep is added to the interval on slow_down (RFC 8628 3.5).
	deviceSlowDownStep = 5 * time.Second
	// defaultDeviceExpiry applies when the server names no expires_in.
	defaultDeviceExpiry = 15 * time.Minute
)

// Device-flow error codes (RFC 8628 section 3.5, plus Entra's
// authorization_declined and Google's access_denied).
const (
	deviceAuthorizationPending = "authorization_pending"
	deviceSlowDown             = "slow_down"
	deviceExpiredToken         = "expired_token"
	deviceDeclined             = "authorization_declined"
	deviceAccessDenied         = "access_denied"
	deviceBadCode              = "bad_verification_code"
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
// Google does not grant the Gmail scope to this flow; use it with Entra.
type DeviceFlow struct {
	DeviceURL    string
	Client       *oauth.Client
	Scopes       []string
	Store        tokenstore.Store
	Key, Account string
	Logger       *slog.Logger
	Clock        retry.Clock // nil: retry.System
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
// polls the token endpoint at the server's interval (5 s more on
// slow_down) until the user approves, declines (ErrDeviceDeclined), the code
// expires (ErrDeviceExpired) or ctx is done. On approval the grant is saved
// under Key and returned. Throttling and network failures while polling do
// not end the wait.
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
	expiresIn, interval := defaultDeviceExpiry, DefaultDeviceInterval
	if da.ExpiresIn > 0 {
		expiresIn = da.ExpiresIn
	}
	if da.Interval > 0 {
		interval = da.Interval
	}
	p := DevicePrompt{
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Message:                 da.Message,
		ExpiresIn:               expiresIn,
	}
	if p.Message == "" {
		p.Message = fmt.Sprintf("To sign in, open %s in a browser and enter the code %s.", p.VerificationURI, p.UserCode)
	}
	if err := prompt(p); err != nil {
		return nil, fmt.Errorf("authorize: device authorization prompt: %w", err)
	}

	deadline := f.now().Add(expiresIn)
	var waited time.Duration
	form := url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {da.DeviceCode}}
	for {
		wait := interval
		if err := f.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("authorize: device authorization: %w", err)
		}
		waited += wait
		if waited >= expiresIn || !f.now().Before(deadline) {
			return nil, fmt.Errorf("authorize: device authorization: %w (after %s)", ErrDeviceExpired, expiresIn)
		}
		tok, err := f.Client.Do(ctx, form)
		if err == nil {
			rec, err := SaveGrant(ctx, f.Store, f.Key, f.Account, f.Scopes, tok, f.now())
			if err != nil {
				return nil, err
			}
			f.logger().InfoContext(ctx, "mailbox authorized by device code", "account", f.Account, "key", f.Key)
			return rec, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("authorize: device authorization: %w", err)
		}
		var te *oauth.TokenError
		var ue *oauth.UnavailableError
		var ne *oauth.NetworkError
		switch {
		case errors.As(err, &te):
			switch te.Code() {
			case deviceAuthorizationPending:
				continue
			case deviceSlowDown:
				interval += deviceSlowDownStep
				f.logger().DebugContext(ctx, "device flow: slow_down", "interval", interval)
				continue
			case deviceExpiredToken:
				return nil, fmt.Errorf("authorize: device authorization: %w: %w", ErrDeviceExpired, err)
			case deviceDeclined, deviceAccessDenied:
				return nil, fmt.Errorf("authorize: device authorization: %w: %w", ErrDeviceDeclined, err)
			case deviceBadCode:
				return nil, fmt.Errorf("authorize: device authorization: the server does not know the device code: %w", err)
			}
			return nil, fmt.Errorf("authorize: device authorization: %w", provider.Annotate(err))
		case errors.As(err, &ue):
			f.logger().WarnContext(ctx, "device flow: token endpoint unavailable, still waiting", "status", ue.StatusCode, "retry_after", ue.RetryAfter)
			if ue.RetryAfter > interval {
				if err := f.sleep(ctx, ue.RetryAfter-interval); err != nil {
					return nil, fmt.Errorf("authorize: device authorization: %w", err)
				}
				waited += ue.RetryAfter - interval
			}
			continue
		case errors.As(err, &ne):
			f.logger().WarnContext(ctx, "device flow: token endpoint unreachable, still waiting", "err", ne.Err)
			continue
		}
		return nil, fmt.Errorf("authorize: device authorization: %w", err)
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
