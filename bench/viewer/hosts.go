package viewer

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// hostFailover sends a viewer's requests to one of several hosts serving
// the same paths (edge replicas) and moves the viewer to the next host
// when a connection to the current one cannot be made, as a load balancer
// does when a backend dies. Only a refused or failed connect is retried on
// the next host: nothing was sent, so the request is safe to repeat. A
// response cut off by a dying host fails as usual, and the viewer's own
// retry then finds the next host.
//
// Requests that failed on a host after their connection was made, and
// were followed by that host refusing connections (it died with them in
// flight), are counted apart by lost: they are what a load balancer
// cannot save either.
type hostFailover struct {
	base  http.RoundTripper
	hosts []string    // host:port
	moved func()      // counts a move
	lost  func(int64) // counts requests that were in flight on a host that died

	mu      sync.Mutex // guards cur and pending
	cur     int
	pending map[int]int64 // host -> requests failed there since its last success
}

func (h *hostFailover) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	start := h.cur
	h.mu.Unlock()
	var err error
	for i := range h.hosts {
		k := (start + i) % len(h.hosts)
		r := req.Clone(req.Context())
		r.URL.Host = h.hosts[k]
		r.Host = h.hosts[k]
		var resp *http.Response
		resp, err = h.base.RoundTrip(r)
		if err == nil {
			h.mu.Lock()
			delete(h.pending, k)
			if i > 0 && h.cur == start {
				h.cur = k
				h.moved()
			}
			h.mu.Unlock()
			return resp, nil
		}
		if dialFailed(err) {
			h.mu.Lock()
			if n := h.pending[k]; n > 0 && h.lost != nil {
				h.lost(n)
			}
			delete(h.pending, k)
			h.mu.Unlock()
		}
		if !dialFailed(err) || req.Context().Err() != nil {
			if req.Context().Err() == nil {
				h.mu.Lock()
				if h.pending == nil {
					h.pending = map[int]int64{}
				}
				h.pending[k]++
				h.mu.Unlock()
			}
			return nil, err
		}
	}
	return nil, err
}

// fail counts a request that failed on the current host after a response
// began (a body cut off): RoundTrip only sees the ones that failed before.
func (h *hostFailover) fail(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, x := range h.hosts {
		if x == host {
			if h.pending == nil {
				h.pending = map[int]int64{}
			}
			h.pending[k]++
		}
	}
}

// dialFailed says the connection was never made.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}
