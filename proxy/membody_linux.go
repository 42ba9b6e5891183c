package proxy

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"weak"

	"github.com/edgecache/edgecache/cache"
	"golang.org/x/sys/unix"
)

// hotHits is how many hits a large entry takes before it gets a memfd
// copy: a segment fetched once or twice (the common case for distinct
// objects) never costs the extra memory.
const hotHits = 3

// memBodies keeps memfd copies of hot large bodies, so a hit goes out
// with sendfile(2) through net/http's ReadFrom: the kernel sends the
// pages instead of copying the body into the socket (on this project's
// machine that copy was a quarter of the edge's CPU on the 1.2 MB hit).
//
// The copies are extra memory, outside the Go heap, bounded by max. An
// entry's copy lives as long as the entry: a cleanup closes it when the
// entry is collected. Each request opens its own file description of the
// memfd (sendfile reads from the file offset, which must not be shared),
// under the lock the cleanup takes, so a closed descriptor number is never
// opened again by mistake.
type memBodies struct {
	mu    sync.Mutex // guards m and bytes, and orders opens against closes
	m     map[weak.Pointer[cache.Entry]]*memBody
	bytes int64
	max   int64
}

type memBody struct {
	hits int
	fd   int // -1 until made
	size int64
}

func newMemBodies(max int64) *memBodies {
	return &memBodies{m: make(map[weak.Pointer[cache.Entry]]*memBody), max: max}
}

// open returns a new read-only file of e's body b at offset 0, or nil
// when e is not hot yet, over the budget, or the memfd fails. The caller
// closes it.
func (mb *memBodies) open(e *cache.Entry, b cache.ByteView) *os.File {
	if mb == nil || mb.max <= 0 {
		return nil
	}
	k := weak.Make(e)
	mb.mu.Lock()
	defer mb.mu.Unlock()
	m := mb.m[k]
	if m == nil {
		m = &memBody{fd: -1}
		mb.m[k] = m
		runtime.AddCleanup(e, mb.forget, k)
	}
	if m.fd < 0 {
		m.hits++
		size := int64(b.Len())
		if m.hits < hotHits || mb.bytes+size > mb.max {
			return nil
		}
		fd, err := memfdOf(b)
		if err != nil {
			m.hits = -1 << 30 // never again for this entry
			return nil
		}
		m.fd, m.size = fd, size
		mb.bytes += size
	}
	fd, err := syscall.Open("/proc/self/fd/"+strconv.Itoa(m.fd), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "membody")
}

// forget drops the copy of a collected entry.
func (mb *memBodies) forget(k weak.Pointer[cache.Entry]) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if m := mb.m[k]; m != nil {
		if m.fd >= 0 {
			syscall.Close(m.fd)
			mb.bytes -= m.size
		}
		delete(mb.m, k)
	}
}

// held reports the bytes the copies hold, for tests.
func (mb *memBodies) held() int64 {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.bytes
}

// memfdOf copies b into a new sealed memfd: nobody can change or resize
// it afterwards.
func memfdOf(b cache.ByteView) (int, error) {
	fd, err := unix.MemfdCreate("edgecache-body", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, err
	}
	if _, err := b.WriteTo(fdWriter(fd)); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// fdWriter writes to a raw descriptor, every byte.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := syscall.Write(int(w), p[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
