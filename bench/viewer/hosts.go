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
type hostFailover struct {
	base  http.RoundTripper
	hosts []string // host:port
	moved func()   // counts a move

	mu  sync.Mutex // guards cur
	cur int
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
			if i > 0 {
				h.mu.Lock()
				if h.cur == start {
					h.cur = k
					h.moved()
				}
				h.mu.Unlock()
			}
			return resp, nil
		}
		if !dialFailed(err) || req.Context().Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

// dialFailed says the connection was never made.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}
