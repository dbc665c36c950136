package tokenstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/tokenstore"
)

// TestErrorsShowKeysReadably: a key is quoted (so an empty or odd key is
// visible) and a long one is shortened, not pasted whole into the message.
func TestErrorsShowKeysReadably(t *testing.T) {
	long := strings.Repeat("ключ/", 20_000)
	cases := []struct {
		key, want string
	}{
		{"", `""`},
		{"a\x00b", `"a\x00b"`},
		{long, fmt.Sprintf("…(%d bytes)", len(long))},
	}
	for _, c := range cases {
		_, err := tokenstore.NewMemory().Load(t.Context(), c.key)
		if !errors.Is(err, tokenstore.ErrNotFound) {
			t.Fatalf("Load: %v", err)
		}
		if !strings.Contains(err.Error(), c.want) || len(err.Error()) > 400 {
			t.Fatalf("error for key %.20q is %q (%d bytes), want it to show %q briefly", c.key, err.Error()[:min(len(err.Error()), 300)], len(err.Error()), c.want)
		}
	}
}
