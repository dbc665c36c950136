package mailgate

import (
	"slices"
	"strconv"
	"time"

	"github.com/mailoauth/mailoauth/retry"
)

// state is what a Gate remembers about the folder while its epoch holds. It
// is what makes "not yet handled" exact across sessions: a message is
// handed to the handler only when its ID is in none of the sets below, and
// each successful message's action is applied until the server confirmed
// it, once. It is used by the Run goroutine only.
type state struct {
	epoch string
	// done: handled and action confirmed, or deliberately skipped
	// (oversize). Never handed to the handler again.
	done idSet
	// pending: the handler succeeded, the action is not confirmed yet (the
	// session broke, or the server refused it). The action is applied
	// again; the handler is not called again.
	pending map[string]struct{}
	// failures: the handler failed; retried after the backoff.
	failures map[string]*failure
}

// failure is the retry schedule of a message whose handler failed.
type failure struct {
	attempts int
	next     time.Time
}

func newState(epoch string) *state {
	return &state{epoch: epoch, pending: make(map[string]struct{}), failures: make(map[string]*failure)}
}

// handled reports whether id needs no handler call.
func (st *state) handled(id string) bool {
	_, ok := st.pending[id]
	return ok || st.done.has(id)
}

// isPending reports whether id waits for its action.
func (st *state) isPending(id string) bool {
	_, ok := st.pending[id]
	return ok
}

// due reports whether a failed message may be tried again at now.
func (st *state) due(id string, now time.Time) bool {
	f, ok := st.failures[id]
	return !ok || !now.Before(f.next)
}

// succeeded records a successful handler call: the action is pending.
func (st *state) succeeded(id string) {
	delete(st.failures, id)
	st.pending[id] = struct{}{}
}

// confirm records that the action of id took effect (or that id is to be
// skipped for good).
func (st *state) confirm(id string) {
	delete(st.pending, id)
	delete(st.failures, id)
	st.done.add(id)
}

// failed records a handler failure and returns the failure's schedule.
func (st *state) failed(id string, now time.Time, b retry.Backoff) *failure {
	f := st.failures[id]
	if f == nil {
		f = &failure{}
		st.failures[id] = f
	}
	f.attempts++
	f.next = now.Add(b.Delay(f.attempts))
	return f
}

// nextRetry returns the earliest retry time, or zero when nothing waits.
func (st *state) nextRetry() time.Time {
	var t time.Time
	for _, f := range st.failures {
		if t.IsZero() || f.next.Before(t) {
			t = f.next
		}
	}
	return t
}

// forgetMissing drops the failures of messages gone from the candidates
// (someone else moved or read them).
func (st *state) forgetMissing(present map[string]struct{}) {
	for id := range st.failures {
		if _, ok := present[id]; !ok {
			delete(st.failures, id)
		}
	}
}

// idSet is a set of message IDs. IDs in canonical decimal (IMAP's UIDs,
// which a folder hands out in ascending order) are kept as runs, a few
// bytes for thousands of messages; others one by one.
type idSet struct {
	runs  []idRun // ascending, disjoint, never adjacent
	other map[string]struct{}
}

// idRun is the IDs lo to hi, both included.
type idRun struct{ lo, hi uint64 }

// decimal returns id as a number when it is one in canonical form.
func decimal(id string) (uint64, bool) {
	if id == "" || len(id) > 1 && id[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}

// search returns the index of the first run that ends at or after n-1
// (the run n would join or start before).
func (s *idSet) search(n uint64) int {
	i, _ := slices.BinarySearchFunc(s.runs, n, func(r idRun, n uint64) int {
		switch {
		case r.hi+1 < n:
			return -1
		case r.lo > n+1:
			return 1
		}
		return 0
	})
	return i
}

func (s *idSet) has(id string) bool {
	n, ok := decimal(id)
	if !ok {
		_, found := s.other[id]
		return found
	}
	i := s.search(n)
	return i < len(s.runs) && s.runs[i].lo <= n && n <= s.runs[i].hi
}

func (s *idSet) add(id string) {
	n, ok := decimal(id)
	if !ok {
		if s.other == nil {
			s.other = make(map[string]struct{})
		}
		s.other[id] = struct{}{}
		return
	}
	i := s.search(n)
	switch {
	case i == len(s.runs) || s.runs[i].lo > n+1:
		s.runs = slices.Insert(s.runs, i, idRun{n, n})
		return
	case n >= s.runs[i].lo && n <= s.runs[i].hi:
		return
	case n+1 == s.runs[i].lo:
		s.runs[i].lo = n
	default: // n == hi+1
		s.runs[i].hi = n
		if i+1 < len(s.runs) && s.runs[i+1].lo == n+1 {
			s.runs[i].hi = s.runs[i+1].hi
			s.runs = slices.Delete(s.runs, i+1, i+2)
		}
	}
}
