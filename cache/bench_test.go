package cache

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
)

// BenchmarkFillFanout: one fill of a 1 MiB body streamed to 64 readers,
// per operation.
func BenchmarkFillFanout(b *testing.B) {
	c, err := New(Config{MaxBytes: 256 << 20}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	payload := body(1 << 20)
	const readers = 64
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)) * readers)
	i := 0
	for b.Loop() {
		i++
		key := "k" + string(rune('a'+i%26)) + string(rune(i))
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
			}
			return nil
		}
		var wg sync.WaitGroup
		for range readers {
			r, _, _ := c.Fill(context.Background(), key, nil, fetch)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				n := 0
				for {
					p, err := r.Next()
					n += p.Len()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
				if n != len(payload) {
					b.Errorf("reader got %d bytes", n)
				}
			}()
		}
		close(release)
		wg.Wait()
	}
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
