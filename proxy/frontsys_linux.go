//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// rawConn reads requests from and writes responses to a viewer's
// connection with read(2) and writev(2) issued as raw system calls,
// through the connection's syscall.RawConn: the runtime's poller still
// waits for data or room and keeps the deadlines, but the calls do not
// enter the scheduler's syscall state. The socket is non-blocking, so a
// call never sleeps: a write copies what fits in the send buffer and
// returns, in at most a few hundred microseconds for a large body.
//
// Entering the syscall state is what cost: a write of a 1.2 MB body is
// long enough for the runtime's monitor (sysmon) to take the P away
// mid-copy and wake another thread for it, and any call made after the
// process had gone idle woke the monitor from its deep sleep to poll
// every 20 microseconds for a millisecond or more. On a hot segment that
// monitor alone was 9-12% of the edge's CPU (perf; bench/README, "Raw
// reads and writes on the front").
//
// Every wait for room is bounded by idle (client.write_idle_timeout):
// the write fails when the client has accepted nothing for that long, as
// nginx's send_timeout, whatever the response's size. A deadline the
// caller sets (setWriteDeadline) still holds, and wins when earlier.
type rawConn struct {
	rc   syscall.RawConn
	tc   *net.TCPConn
	idle time.Duration
	// dl is the caller's write deadline (UnixNano, 0 for none); armed: a
	// wait's own deadline is on the connection and must be undone.
	dl    atomic.Int64
	armed bool
	// The calls' arguments and results (a read's apart from a write's),
	// and the two functions the poller runs, kept with the connection so
	// that a call allocates nothing.
	a, b    []byte
	n       int64
	werr    error
	p       []byte
	rn      int
	rerr    error
	iov     [2]syscall.Iovec
	writeFn func(fd uintptr) bool
	readFn  func(fd uintptr) bool
}

// init readies w for tc, whose waits for room are bounded by idle (0:
// unbounded).
func (w *rawConn) init(tc *net.TCPConn, idle time.Duration) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	w.rc, w.tc, w.idle, w.writeFn, w.readFn = rc, tc, idle, w.writeOnce, w.readOnce
	return nil
}

// Read reads into p as net.TCPConn's Read would: the poller waits for
// data within the read deadline; 0 bytes read is io.EOF.
func (w *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.p, w.rn, w.rerr = p, 0, nil
	err := w.rc.Read(w.readFn)
	n, rerr := w.rn, w.rerr
	w.p, w.rerr = nil, nil
	if err == nil {
		err = rerr
	}
	return n, err
}

// readOnce is the poller's callback for Read: false asks it to wait.
func (w *rawConn) readOnce(fd uintptr) bool {
	for {
		r, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&w.p[0])), uintptr(len(w.p)))
		switch errno {
		case 0:
			w.rn = int(r)
			if r == 0 {
				w.rerr = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			w.rerr = errno
			return true
		}
	}
}

// write writes a then b (either may be empty) in full, or returns the
// poller's error (a deadline, a closed connection) or the call's.
func (w *rawConn) write(a, b []byte) (int64, error) {
	w.a, w.b, w.n, w.werr = a, b, 0, nil
	err := w.rc.Write(w.writeFn)
	n, werr := w.n, w.werr
	w.a, w.b, w.werr = nil, nil, nil // keep no body alive
	w.disarm()
	if err == nil {
		err = werr
	}
	return n, err
}

// writeOnce is the poller's callback for write: false asks it to wait
// for room.
func (w *rawConn) writeOnce(fd uintptr) bool {
	for len(w.a)+len(w.b) > 0 {
		cnt := 0
		for _, p := range [2][]byte{w.a, w.b} {
			if len(p) > 0 {
				w.iov[cnt].Base = &p[0]
				w.iov[cnt].SetLen(len(p))
				cnt++
			}
		}
		r, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(cnt))
		w.iov = [2]syscall.Iovec{}
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			w.armIdle()
			return false
		case errno != 0:
			w.werr = errno
			return true
		case r == 0:
			w.werr = io.ErrUnexpectedEOF
			return true
		}
		k := int(r)
		w.n += int64(k)
		if k >= len(w.a) {
			w.b, w.a = w.b[k-len(w.a):], nil
		} else {
			w.a = w.a[k:]
		}
	}
	return true
}

// The keep-alive probes net.Listen sets on every connection it accepts
// (net.KeepAliveConfig's defaults): first after 15 s idle, then every
// 15 s, 9 of them.
const (
	keepAliveIdle     = 15
	keepAliveInterval = 15
	keepAliveCount    = 9
)

// listenConfig sets TCP keep-alive once, on the listening socket, instead
// of with four setsockopt(2) calls on each accepted connection (which
// KeepAlive -1 turns off): Linux makes an accepted socket as a copy of
// its listener, socket options included, so every viewer connection has
// the same probes as before.
func listenConfig() net.ListenConfig {
	return net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			s := int(fd)
			err = errors.Join(
				syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1),
				syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, keepAliveIdle),
				syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, keepAliveInterval),
				syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount))
		}); cerr != nil {
			return cerr
		}
		if err != nil {
			return fmt.Errorf("TCP keep-alive on the listening socket: %w", err)
		}
		return nil
	}}
}

// openFileLimit is the process's open-file limit (RLIMIT_NOFILE's soft
// value, which Go's runtime raises to the hard one at start), 0 when it
// cannot be read.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return 0
	}
	return int(rl.Cur)
}
