package auth

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The warm path of Source.Token, against the baseline of
// oauth2.ReuseTokenSource holding a valid token, serial and parallel.
// Run: go test -run X -bench TokenWarm -benchmem ./auth/

func BenchmarkSourceTokenWarm(b *testing.B) {
	s := NewSource(&countingBase{fn: freshTokens(time.Now, time.Hour)}, nil)
	ctx := context.Background()
	if _, err := s.Token(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Token(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func BenchmarkReuseTokenSourceTokenWarm(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "tok", Expiry: time.Now().Add(time.Hour)}
	s := oauth2.ReuseTokenSource(tok, oauth2TokenSource{&countingBase{fn: freshTokens(time.Now, time.Hour)}})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Token(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// oauth2TokenSource gives a Refresher the shape of an oauth2.TokenSource,
// for the ReuseTokenSource baseline.
type oauth2TokenSource struct{ r Refresher }

func (s oauth2TokenSource) Token() (*oauth2.Token, error) {
	return s.r.Refresh(context.Background(), nil)
}
