package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	keyOnce    sync.Once
	key1, key2 *rsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if key1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if key2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return key1, key2
}

type testClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k, _ := keys(t)
	for _, alg := range []string{RS256, PS256} {
		t.Run(alg, func(t *testing.T) {
			in := testClaims{Iss: "app", Sub: "user@example.com", Exp: 1700000000}
			tok, err := Sign(k, alg, map[string]any{"kid": "k1"}, in)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(tok, "."); n != 2 {
				t.Fatalf("token has %d dots", n)
			}
			var out testClaims
			hdr, err := Verify(tok, &k.PublicKey, &out)
			if err != nil {
				t.Fatal(err)
			}
			if out != in {
				t.Fatalf("claims = %+v, want %+v", out, in)
			}
			if hdr["alg"] != alg || hdr["typ"] != "JWT" || hdr["kid"] != "k1" {
				t.Fatalf("header = %v", hdr)
			}
			var h2 map[string]any
			var c2 map[string]any
			if err := Decode(tok, &h2, &c2); err != nil {
				t.Fatal(err)
			}
			if h2["alg"] != alg || c2["sub"] != "user@example.com" {
				t.Fatalf("Decode: %v %v", h2, c2)
			}
		})
	}
}

func TestSignKeepsCallerHeaderAndTyp(t *testing.T) {
	k, _ := keys(t)
	h := map[string]any{"typ": "at+jwt", "alg": "none"}
	tok, err := Sign(k, RS256, h, map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "none" {
		t.Fatal("Sign modified the caller's header map")
	}
	var got map[string]any
	if err := Decode(tok, &got, nil); err != nil {
		t.Fatal(err)
	}
	if got["alg"] != RS256 || got["typ"] != "at+jwt" {
		t.Fatalf("header = %v", got)
	}
}

func TestSignRejects(t *testing.T) {
	k, _ := keys(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(k, "HS256", nil, map[string]any{}); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("HS256: err = %v, want ErrAlgorithm", err)
	}
	if _, err := Sign(k, "none", nil, map[string]any{}); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("none: err = %v, want ErrAlgorithm", err)
	}
	if _, err := Sign(ec, RS256, nil, map[string]any{}); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("EC key: err = %v, want ErrAlgorithm", err)
	}
	if _, err := Sign(nil, RS256, nil, map[string]any{}); err == nil {
		t.Error("nil key: no error")
	}
	if _, err := Sign(k, RS256, nil, []string{"not", "an", "object"}); err == nil {
		t.Error("array claims: no error")
	}
	if _, err := Sign(k, RS256, nil, func() {}); err == nil {
		t.Error("unencodable claims: no error")
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	k, other := keys(t)
	for _, alg := range []string{RS256, PS256} {
		t.Run(alg, func(t *testing.T) {
			tok, err := Sign(k, alg, nil, testClaims{Sub: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok, ".")

			// Claims swapped for others: signature no longer matches.
			forged := parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"mallory"}`)) + "." + parts[2]
			if _, err := Verify(forged, &k.PublicKey, nil); !errors.Is(err, ErrSignature) {
				t.Errorf("forged claims: err = %v, want ErrSignature", err)
			}
			// One signature byte flipped.
			sig, _ := b64.DecodeString(parts[2])
			sig[len(sig)/2] ^= 0x01
			flipped := parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig)
			if _, err := Verify(flipped, &k.PublicKey, nil); !errors.Is(err, ErrSignature) {
				t.Errorf("flipped signature: err = %v, want ErrSignature", err)
			}
			// Signature stripped.
			if _, err := Verify(parts[0]+"."+parts[1]+".", &k.PublicKey, nil); !errors.Is(err, ErrSignature) {
				t.Errorf("empty signature: err = %v, want ErrSignature", err)
			}
			// Another key.
			var c testClaims
			if _, err := Verify(tok, &other.PublicKey, &c); !errors.Is(err, ErrSignature) {
				t.Errorf("wrong key: err = %v, want ErrSignature", err)
			}
			if c.Sub != "" {
				t.Error("claims were filled although the signature failed")
			}
		})
	}
}

func TestVerifyRejectsAlgorithmSwitch(t *testing.T) {
	k, _ := keys(t)
	tok, err := Sign(k, RS256, nil, testClaims{Sub: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	for _, alg := range []string{"PS256", "none", "HS256", ""} {
		hdr := b64.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
		_, err := Verify(hdr+"."+parts[1]+"."+parts[2], &k.PublicKey, nil)
		if err == nil {
			t.Errorf("alg %q accepted", alg)
		}
		if alg != "PS256" && !errors.Is(err, ErrAlgorithm) {
			t.Errorf("alg %q: err = %v, want ErrAlgorithm", alg, err)
		}
	}
	if _, err := Verify(tok, nil, nil); err == nil {
		t.Error("nil key accepted")
	}
}

func TestDecodeMalformed(t *testing.T) {
	obj := b64.EncodeToString([]byte(`{"a":1}`))
	cases := map[string]string{
		"empty":            "",
		"one part":         obj,
		"two parts":        obj + "." + obj,
		"four parts":       obj + "." + obj + ".." + obj,
		"bad base64 head":  "!!." + obj + ".",
		"bad base64 body":  obj + ".$$.",
		"bad base64 sig":   obj + "." + obj + ".***",
		"header not json":  b64.EncodeToString([]byte("hello")) + "." + obj + ".",
		"header array":     b64.EncodeToString([]byte(`[1,2]`)) + "." + obj + ".",
		"claims string":    obj + "." + b64.EncodeToString([]byte(`"x"`)) + ".",
		"claims truncated": obj + "." + b64.EncodeToString([]byte(`{"a":`)) + ".",
		"padded std b64":   base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)) + "." + obj + ".",
		"too long":         obj + "." + strings.Repeat("A", MaxTokenSize) + ".",
	}
	k, _ := keys(t)
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			var h, c map[string]any
			err := Decode(tok, &h, &c)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if _, err := Verify(tok, &k.PublicKey, nil); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeTypeMismatchIsError(t *testing.T) {
	k, _ := keys(t)
	tok, err := Sign(k, RS256, nil, map[string]any{"exp": "tomorrow"})
	if err != nil {
		t.Fatal(err)
	}
	var c testClaims
	if err := Decode(tok, nil, &c); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

func TestThumbprints(t *testing.T) {
	k, _ := keys(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s256, s1 := ThumbprintS256(cert), ThumbprintSHA1(cert)
	if raw, err := b64.DecodeString(s256); err != nil || len(raw) != 32 {
		t.Errorf("x5t#S256 %q: %d bytes, %v", s256, len(raw), err)
	}
	if raw, err := b64.DecodeString(s1); err != nil || len(raw) != 20 {
		t.Errorf("x5t %q: %d bytes, %v", s1, len(raw), err)
	}
}

func FuzzDecode(f *testing.F) {
	k, _ := keys(f)
	for _, alg := range []string{RS256, PS256} {
		tok, err := Sign(k, alg, map[string]any{"x5t": "abc"}, testClaims{Iss: "i", Sub: "s", Exp: 1})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		var h map[string]any
		var c testClaims
		_ = Decode(tok, &h, &c)
		var anyc any
		_ = Decode(tok, nil, &anyc)
		if _, err := Verify(tok, &k.PublicKey, &c); err == nil {
			// Anything that verifies must also decode.
			if err := Decode(tok, nil, nil); err != nil {
				t.Fatalf("verified token does not decode: %v", err)
			}
		}
	})
}

func TestES256(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Sign(k, ES256, map[string]any{"kid": "ec1"}, testClaims{Sub: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	sig, _ := b64.DecodeString(parts[2])
	if len(sig) != 64 {
		t.Fatalf("ES256 signature is %d bytes, want 64 (R and S of 32 bytes, RFC 7518 section 3.4)", len(sig))
	}
	var c testClaims
	hdr, err := Verify(tok, &k.PublicKey, &c)
	if err != nil || hdr["alg"] != ES256 || hdr["kid"] != "ec1" || c.Sub != "alice" {
		t.Fatalf("Verify = %v, %v, %+v", hdr, err, c)
	}
	if _, err := Verify(tok, &other.PublicKey, nil); !errors.Is(err, ErrSignature) {
		t.Errorf("another key: err = %v, want ErrSignature", err)
	}
	sig[10] ^= 1
	if _, err := Verify(parts[0]+"."+parts[1]+"."+b64.EncodeToString(sig), &k.PublicKey, nil); !errors.Is(err, ErrSignature) {
		t.Errorf("flipped signature: err = %v, want ErrSignature", err)
	}
	if _, err := Verify(parts[0]+"."+parts[1]+"."+b64.EncodeToString(sig[:63]), &k.PublicKey, nil); !errors.Is(err, ErrSignature) {
		t.Errorf("short signature: err = %v, want ErrSignature", err)
	}
	rk, _ := keys(t)
	if _, err := Verify(tok, &rk.PublicKey, nil); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("ES256 token checked with an RSA key: err = %v, want ErrAlgorithm", err)
	}
	if _, err := Sign(rk, ES256, nil, testClaims{}); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("ES256 with an RSA key: err = %v, want ErrAlgorithm", err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(p384, ES256, nil, testClaims{}); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("ES256 with a P-384 key: err = %v, want ErrAlgorithm", err)
	}
	if _, err := Verify(tok, (*ecdsa.PublicKey)(nil), nil); err == nil {
		t.Error("a nil ECDSA key accepted")
	}
}
