package tokenstore_test

import (
	"bytes"
	"testing"

	"github.com/mailoauth/mailoauth/tokenstore"
	"github.com/mailoauth/mailoauth/tokenstore/storetest"
)

func newFile(t *testing.T) *tokenstore.File {
	t.Helper()
	f, err := tokenstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	return f
}

// testSecret returns a 32-byte key made of b.
func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) tokenstore.Store { return tokenstore.NewMemory() })
}

func TestFileConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store { return newFile(t) })
}

func TestEncryptedMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		s, err := tokenstore.NewEncrypted(tokenstore.NewMemory(), testSecret(1))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestEncryptedFileConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		s, err := tokenstore.NewEncrypted(newFile(t), testSecret(1))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(tokenstore.Locker); !ok {
			t.Fatal("an encrypted File is not a Locker")
		}
		return s
	})
}
