package graphxtest

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// Fault is a way a request fails.
type Fault int

// The faults the server injects.
const (
	// Throttle answers 429 Too Many Requests with Retry-After before the
	// request is handled, as Graph's throttling does.
	Throttle Fault = iota + 1
	// Unavailable answers 503 Service Unavailable with Retry-After before
	// the request is handled.
	Unavailable
	// Drop closes the connection before the request is handled, without
	// an answer.
	Drop
	// LoseAnswer handles the request (the message is sent, the message
	// moved), then closes the connection without an answer.
	LoseAnswer
	// RejectToken answers 401 InvalidAuthenticationToken whatever the
	// token, as Graph does with an expired one.
	RejectToken
	// Gone answers 410 Gone to a delta request that carries a link, as
	// Graph does when it reset its sync state; a request that starts a
	// full sync is not affected and does not use the fault up.
	Gone
	// GatewayTimeout handles the request, then answers 504 Gateway
	// Timeout, as a gateway that gave up waiting for a backend that went
	// on does.
	GatewayTimeout
)

// pendingFault is a fault for the next requests of a route.
type pendingFault struct {
	route Route
	left  int
	fault Fault
}

// FailNext makes the next n requests of route (RouteAny: of any route)
// fail with f. Faults queue in the order given.
func (s *Server) FailNext(route Route, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 {
		s.faults = append(s.faults, pendingFault{route: route, left: n, fault: f})
	}
}

// SetRetryAfter sets the Retry-After of Throttle and Unavailable answers,
// in whole seconds (default one second).
func (s *Server) SetRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

// SetMaxConcurrent makes the server answer 429 ApplicationThrottled
// (MailboxConcurrency) to a request that finds n requests of its mailbox
// in flight, as Graph does beyond 4; zero turns it off.
func (s *Server) SetMaxConcurrent(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxInFl = n
}

// SetDelay makes the server wait d before it handles each Graph request
// (not uploads), so that requests overlap; zero turns it off.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// RandomFaults makes requests fail at random, for stress tests. Each
// probability is in [0, 1]; they add up.
type RandomFaults struct {
	Seed        uint64
	Throttle    float64
	Unavailable float64
	Drop        float64
	LoseAnswer  float64
	// GatewayTimeout: the request is handled, the answer is a 504.
	GatewayTimeout float64
	// Routes limits the faults to these routes; nil: every Graph request
	// (uploads too).
	Routes []Route
}

// SetRandomFaults turns on (or, with the zero value, off) random faults.
func (s *Server) SetRandomFaults(f RandomFaults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.random = f
	s.rnd = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// takeFault returns the fault for this request, or 0.
func (s *Server) takeFault(c call, r *http.Request) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		pf := &s.faults[i]
		if pf.left <= 0 || pf.route != RouteAny && pf.route != c.route {
			continue
		}
		if pf.fault == Gone && (c.route != RouteDelta || !hasDeltaLink(r)) {
			continue
		}
		pf.left--
		f := pf.fault
		s.faults = slices.DeleteFunc(s.faults, func(p pendingFault) bool { return p.left <= 0 })
		return f
	}
	rf := s.random
	if s.rnd == nil || rf.Routes != nil && !slices.Contains(rf.Routes, c.route) {
		return 0
	}
	x := s.rnd.Float64()
	for _, p := range []struct {
		p float64
		f Fault
	}{{rf.Throttle, Throttle}, {rf.Unavailable, Unavailable}, {rf.Drop, Drop}, {rf.LoseAnswer, LoseAnswer}, {rf.GatewayTimeout, GatewayTimeout}} {
		if x < p.p {
			return p.f
		}
		x -= p.p
	}
	return 0
}

// hasDeltaLink reports a delta request that continues a round or starts
// one from a delta link.
func hasDeltaLink(r *http.Request) bool {
	q := r.URL.Query()
	return q.Has("$skiptoken") || q.Has("$deltatoken")
}

// ExpireDeltaLinks forgets the state of every delta link handed out so
// far: each answers 410 Gone from now on, as after Graph reset its sync
// state.
func (s *Server) ExpireDeltaLinks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.deltas)
}
