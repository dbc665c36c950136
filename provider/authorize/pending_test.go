package authorize

import (
	"fmt"
	"testing"
	"time"
)

func TestPendingTableSingleUseAndExpiry(t *testing.T) {
	tb := newPendingTable()
	tb.Put(&pendingAuth{state: "a", verifier: "va", created: testNow}, testNow, 10)
	tb.Put(&pendingAuth{state: "b", verifier: "vb", created: testNow}, testNow, 10)

	p, expired, ok := tb.Take("a", testNow.Add(time.Minute))
	if !ok || expired || p.verifier != "va" {
		t.Fatalf("Take(a) = %v %v %v", p, expired, ok)
	}
	if _, expired, ok := tb.Take("a", testNow.Add(time.Minute)); ok || expired {
		t.Error("state a usable twice")
	}
	if _, _, ok := tb.Take("unknown", testNow); ok {
		t.Error("unknown state accepted")
	}
	if _, expired, ok := tb.Take("b", testNow.Add(StateLifetime)); ok || !expired {
		t.Errorf("state b after %v: ok=%v expired=%v, want expired", StateLifetime, ok, expired)
	}
	if tb.Len() != 0 {
		t.Errorf("Len = %d after taking everything", tb.Len())
	}
}

func TestPendingTableEvictsOldestAndExpired(t *testing.T) {
	tb := newPendingTable()
	for i := range 5 {
		tb.Put(&pendingAuth{state: fmt.Sprint(i), created: testNow}, testNow, 3)
	}
	if tb.Len() != 3 {
		t.Fatalf("Len = %d, want cap 3", tb.Len())
	}
	for _, s := range []string{"0", "1"} {
		if _, _, ok := tb.Take(s, testNow); ok {
			t.Errorf("oldest state %s not evicted", s)
		}
	}
	if _, _, ok := tb.Take("4", testNow); !ok {
		t.Error("newest state evicted")
	}
	// Expired entries go when anything new arrives.
	later := testNow.Add(StateLifetime + time.Second)
	tb.Put(&pendingAuth{state: "new", created: later}, later, 3)
	if tb.Len() != 1 {
		t.Errorf("Len = %d, want only the new entry", tb.Len())
	}
}
