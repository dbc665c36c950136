package imapx

import (
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/retry"
)

// gateState is what a Mailgate remembers about the watched folder while its
// UIDVALIDITY holds. It is what makes "not yet handled" exact across
// reconnections: a message is handed to the handler only when its UID is
// in none of the sets below, and each successful message's action is
// applied until the server confirmed it, once.
//
// It is used by the Run goroutine only.
type gateState struct {
	validity uint32
	// done: handled and action confirmed, or deliberately skipped
	// (oversize, no body). Never handed to the handler again.
	done imap.UIDSet
	// pending: the handler succeeded, the action is not confirmed yet (the
	// connection broke, or the server refused it). The action is applied
	// again; the handler is not called again.
	pending map[imap.UID]struct{}
	// failures: the handler failed; retried after the backoff.
	failures map[imap.UID]*failure
}

// failure is the retry schedule of a message whose handler failed.
type failure struct {
	attempts int
	next     time.Time
}

func newGateState(validity uint32) *gateState {
	return &gateState{
		validity: validity,
		pending:  make(map[imap.UID]struct{}),
		failures: make(map[imap.UID]*failure),
	}
}

// handled reports whether uid needs no handler call.
func (st *gateState) handled(uid imap.UID) bool {
	if _, ok := st.pending[uid]; ok {
		return true
	}
	return st.done.Contains(uid)
}

// due reports whether a failed message may be tried again at now.
func (st *gateState) due(uid imap.UID, now time.Time) bool {
	f, ok := st.failures[uid]
	return !ok || !now.Before(f.next)
}

// succeeded records a successful handler call: the action is pending.
func (st *gateState) succeeded(uid imap.UID) {
	delete(st.failures, uid)
	st.pending[uid] = struct{}{}
}

// confirm records that the action of uid took effect (or that uid is to be
// skipped for good).
func (st *gateState) confirm(uid imap.UID) {
	delete(st.pending, uid)
	delete(st.failures, uid)
	st.done.AddNum(uid)
}

// failed records a handler failure and returns when to try again.
func (st *gateState) failed(uid imap.UID, now time.Time, b retry.Backoff) time.Time {
	f := st.failures[uid]
	if f == nil {
		f = &failure{}
		st.failures[uid] = f
	}
	f.attempts++
	f.next = now.Add(b.Delay(f.attempts))
	return f.next
}

// nextRetry returns the earliest retry time, or zero when nothing waits.
func (st *gateState) nextRetry() time.Time {
	var t time.Time
	for _, f := range st.failures {
		if t.IsZero() || f.next.Before(t) {
			t = f.next
		}
	}
	return t
}

// forgetMissing drops failures of messages that are gone from the
// candidates (someone else moved or read them).
func (st *gateState) forgetMissing(present map[imap.UID]struct{}) {
	for uid := range st.failures {
		if _, ok := present[uid]; !ok {
			delete(st.failures, uid)
		}
	}
}

// pendingUIDs returns the pending UIDs in ascending order.
func (st *gateState) pendingUIDs() []imap.UID {
	uids := make([]imap.UID, 0, len(st.pending))
	for uid := range st.pending {
		uids = append(uids, uid)
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	return uids
}
