package tokenstore

import (
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/oauth2"
)

// redacted stands for a token or key in what a value prints of itself.
const redacted = "[redacted]"

// String shows the record with its tokens redacted, for %v, %+v and %s.
func (r Record) String() string { return r.format(false) }

// GoString shows the record with its tokens redacted, for %#v.
func (r Record) GoString() string { return r.format(true) }

// LogValue shows the record to log/slog with its tokens redacted.
func (r Record) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("account", r.Account),
		slog.Any("scopes", r.Scopes),
		slog.Time("updated_at", r.UpdatedAt),
		slog.Int64("version", r.Version),
	}
	if t := r.Token; t != nil {
		attrs = append(attrs, slog.Group("token",
			slog.String("access_token", hide(t.AccessToken)),
			slog.String("token_type", t.TokenType),
			slog.String("refresh_token", hide(t.RefreshToken)),
			slog.Time("expiry", t.Expiry),
		))
	}
	return slog.GroupValue(attrs...)
}

func (r Record) format(goSyntax bool) string {
	if goSyntax {
		return fmt.Sprintf("tokenstore.Record{Token: %s, Account: %q, Scopes: %#v, UpdatedAt: %s, Version: %d}",
			formatToken(r.Token, true), r.Account, r.Scopes, r.UpdatedAt.Format(time.RFC3339Nano), r.Version)
	}
	return fmt.Sprintf("{Token:%s Account:%s Scopes:%v UpdatedAt:%s Version:%d}",
		formatToken(r.Token, false), r.Account, r.Scopes, r.UpdatedAt.Format(time.RFC3339Nano), r.Version)
}

// formatToken shows t with its tokens redacted.
func formatToken(t *oauth2.Token, goSyntax bool) string {
	switch {
	case t == nil && goSyntax:
		return "(*oauth2.Token)(nil)"
	case t == nil:
		return "<nil>"
	case goSyntax:
		return fmt.Sprintf("&oauth2.Token{AccessToken: %q, TokenType: %q, RefreshToken: %q, Expiry: %s}",
			hide(t.AccessToken), t.TokenType, hide(t.RefreshToken), t.Expiry.Format(time.RFC3339Nano))
	default:
		return fmt.Sprintf("{AccessToken:%s TokenType:%s RefreshToken:%s Expiry:%s}",
			hide(t.AccessToken), t.TokenType, hide(t.RefreshToken), t.Expiry.Format(time.RFC3339Nano))
	}
}

// hide redacts a secret that is there; an empty one stays visibly empty.
func hide(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// String shows the key's id, never its secret.
func (k Key) String() string { return fmt.Sprintf("{ID:%s Secret:%s}", k.ID, hideKey(k.Secret)) }

// GoString shows the key's id, never its secret.
func (k Key) GoString() string {
	return fmt.Sprintf("tokenstore.Key{ID: %q, Secret: %q}", k.ID, hideKey(k.Secret))
}

// LogValue shows the key's id to log/slog, never its secret.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("secret", hideKey(k.Secret)))
}

func hideKey(secret []byte) string {
	if len(secret) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %d bytes", redacted, len(secret))
}
