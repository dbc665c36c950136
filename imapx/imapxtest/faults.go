package imapxtest

import (
	"math/rand/v2"
	"strings"
	"time"
)

// maxDropBytes bounds where in its reply DropRandomly cuts a connection.
const maxDropBytes = 16 << 10

// faults are the failures armed by a test; Server.mu guards them.
type faults struct {
	authFail    int
	authHow     AuthFailure
	dropAfter   int // commands until the next drop; 0: off
	dropProb    float64
	rng         *rand.Rand
	byeOnIdle   []string
	throttleN   int
	throttleFor time.Duration
	lostReplies map[string]int // command name -> replies still to lose
}

// faultKind is what happens to one command.
type faultKind int

const (
	faultNone      faultKind = iota
	faultDropNow             // close the connection; the command never runs
	faultDropLater           // run the command, close after some reply bytes
	faultThrottle            // answer BAD throttled and close
)

type fault struct {
	kind    faultKind
	bytes   int64
	backoff time.Duration
}

// nextFault decides what happens to the next client command.
func (s *Server) nextFault(name string) fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	if f.throttleN > 0 {
		f.throttleN--
		return fault{kind: faultThrottle, backoff: f.throttleFor}
	}
	if f.dropAfter > 0 {
		f.dropAfter--
		if f.dropAfter == 0 {
			return fault{kind: faultDropNow}
		}
	}
	if f.lostReplies[name] > 0 {
		f.lostReplies[name]--
		return fault{kind: faultDropLater, bytes: 0}
	}
	if f.dropProb > 0 && f.rng.Float64() < f.dropProb {
		if f.rng.IntN(2) == 0 {
			return fault{kind: faultDropNow}
		}
		return fault{kind: faultDropLater, bytes: f.rng.Int64N(maxDropBytes)}
	}
	return fault{}
}

// FailAuth makes the next n AUTHENTICATE exchanges fail, whatever the
// token, in the way how says.
func (s *Server) FailAuth(n int, how AuthFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.authFail, s.faults.authHow = n, how
}

// takeAuthFailure consumes one forced failure, if any is armed.
func (s *Server) takeAuthFailure() (AuthFailure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.authFail <= 0 {
		return 0, false
	}
	s.faults.authFail--
	return s.faults.authHow, true
}

// DropAfterCommands arms a one-shot drop: the connection that receives the
// n-th client command from now on (n >= 1) is closed before the command
// runs. Zero disarms it.
func (s *Server) DropAfterCommands(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.dropAfter = max(n, 0)
}

// DropRandomly makes each client command, with probability p, drop its
// connection: half of the time before the command runs, otherwise after a
// random number (under 16 KiB) of reply bytes, which may fall in the middle
// of a FETCH, after a STORE took effect but before its reply, or in a later
// reply. seed makes the sequence repeatable; p == 0 turns it off.
func (s *Server) DropRandomly(p float64, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.dropProb = p
	s.faults.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// ByeDuringIdle makes the next IDLE command receive "* BYE <text>",
// after which the server closes the connection. Exchange Online's text
// when a session's token expired is
// "Session invalidated - AccessTokenExpired". Each call arms one BYE.
func (s *Server) ByeDuringIdle(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.byeOnIdle = append(s.faults.byeOnIdle, text)
}

// takeByeOnIdle consumes one armed BYE.
func (s *Server) takeByeOnIdle() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults.byeOnIdle) == 0 {
		return "", false
	}
	text := s.faults.byeOnIdle[0]
	s.faults.byeOnIdle = s.faults.byeOnIdle[1:]
	return text, true
}

// Throttle makes the next n client commands receive Exchange Online's
// throttling reply, "<tag> BAD Request is throttled. Suggested Backoff
// Time: <backoff in ms> milliseconds", after which the server closes the
// connection.
func (s *Server) Throttle(n int, backoff time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.throttleN, s.faults.throttleFor = n, backoff
}

// LoseReplies makes the next n commands named command ("UID COPY", "UID
// STORE", "UID MOVE"; UID commands are named with their UID prefix) run and
// take effect, after which the connection drops before the reply reaches
// the client: the client cannot tell whether the command ran. Zero
// disarms it.
func (s *Server) LoseReplies(command string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.lostReplies == nil {
		s.faults.lostReplies = make(map[string]int)
	}
	s.faults.lostReplies[strings.ToUpper(command)] = max(n, 0)
}
