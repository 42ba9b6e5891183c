package cache

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFillFanout: one fill of a 1 MiB body, written in 32 KiB
// chunks, streamed to 64 readers, per operation; collecting (the body fits
// the object limit) and pass-through (it does not: the fill keeps a window
// and drops what every reader is past), each also paced as an origin is:
// a pause after each chunk, so the readers catch up and wait for the next
// one, as a herd does. Each wake-up of the readers allocates one channel,
// so allocs/op counts the broadcasts; cpu-ns/op is the process's CPU
// time (user and system) per operation, what the wake-ups cost while the
// paced writer sleeps.
func BenchmarkFillFanout(b *testing.B) {
	payload := body(1 << 20)
	const readers = 64
	for _, bc := range []struct {
		name      string
		maxObject int64
		pace      time.Duration
	}{
		{"collecting", 0, 0},
		{"pass-through", 512 << 10, 0},
		{"collecting-paced", 0, 200 * time.Microsecond},
		{"pass-through-paced", 512 << 10, 200 * time.Microsecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := New(Config{MaxBytes: 256 << 20, MaxObjectBytes: bc.maxObject}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)) * readers)
			i := 0
			cpu0 := processCPU(b)
			for b.Loop() {
				i++
				fanout(b, c, fmt.Sprint("fanout-", i), payload, readers, bc.pace)
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fanout streams one fill of payload to n readers that all joined before
// its first byte, pausing for pace after each chunk.
func fanout(b *testing.B, c *Cache, key string, payload []byte, n int, pace time.Duration) {
	release := make(chan struct{})
	fetch := func(ctx context.Context, w *FillWriter) error {
		h := storable()
		h.ContentLength = int64(len(payload))
		h.Store = false
		w.WriteHead(h)
		<-release
		for off := 0; off < len(payload); off += 32 << 10 {
			if _, err := w.Write(ctx, payload[off:off+32<<10]); err != nil {
				return err
			}
			if pace > 0 {
				time.Sleep(pace)
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	for range n {
		r, _, err := c.Fill(context.Background(), key, nil, fetch)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			got := 0
			for {
				p, err := r.Next()
				got += p.Len()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
			if got != len(payload) {
				b.Errorf("reader got %d bytes", got)
			}
		}()
	}
	close(release)
	wg.Wait()
}

// BenchmarkGetHit: the hit path, a Get of a stored key.
func BenchmarkGetHit(b *testing.B) {
	c, err := New(Config{MaxBytes: 64 << 20}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Put(NewEntry("/live/seg-1.ts", storable(), body(64<<10)))
	if c.Get("/live/seg-1.ts") == nil {
		b.Fatal("not stored")
	}
	b.ReportAllocs()
	for b.Loop() {
		if c.Get("/live/seg-1.ts") == nil {
			b.Fatal("miss")
		}
	}
}

// BenchmarkFillStore: one storable fill of a 1 MiB body with a known
// length, read by its starter and stored, per operation.
func BenchmarkFillStore(b *testing.B) {
	c, err := New(Config{MaxBytes: 256 << 20}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	payload := body(1 << 20)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	i := 0
	for b.Loop() {
		i++
		fetch := func(ctx context.Context, w *FillWriter) error {
			h := storable()
			h.ContentLength = int64(len(payload))
			if err := w.WriteHead(h); err != nil {
				return err
			}
			for off := 0; off < len(payload); off += 32 << 10 {
				if _, err := w.Write(ctx, payload[off:off+32<<10]); err != nil {
					return err
				}
			}
			return nil
		}
		r, _, err := c.Fill(context.Background(), fmt.Sprint("store-", i%64), nil, fetch)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil || n != int64(len(payload)) {
			b.Fatalf("read %d bytes, err %v", n, err)
		}
		if _, err := r.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}
