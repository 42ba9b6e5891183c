package accesslog

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// lockedBuffer is a bytes.Buffer safe to read while the logger writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// gateWriter blocks every Write until the test lets it through: entered
// says a Write has begun, release lets one finish.
type gateWriter struct {
	entered chan struct{}
	release chan struct{}
	out     lockedBuffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.out.Write(p)
}

func TestDropWhenFull(t *testing.T) {
	g := &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
	l, err := New(Config{Buffer: 4, Format: "$status"}, testLog(t), Stdout(g))
	if err != nil {
		t.Fatal(err)
	}
	r := Record{Status: 200}
	l.Log(r)
	<-g.entered // the writer goroutine is now stuck in Write with record 1
	for range 4 {
		l.Log(r) // fills the queue
	}
	for range 3 {
		l.Log(r) // no room: dropped, not waited for
	}
	if got := l.Dropped(); got != 3 {
		t.Fatalf("Dropped() = %d, want 3", got)
	}
	// Let everything through: the first write, then the queued four.
	g.release <- struct{}{}
	closed := make(chan error)
	go func() { closed <- l.Close() }()
	releaseUntil(t, g, closed)
	if got, want := g.out.String(), strings.Repeat("200\n", 5); got != want {
		t.Fatalf("wrote %q, want %q", got, want)
	}
	l.Log(r)
	if got := l.Dropped(); got != 4 {
		t.Fatalf("after Close, Dropped() = %d, want 4 (a record logged after Close is dropped)", got)
	}
}

// releaseUntil lets the gate's writes through until done reports.
func releaseUntil(t *testing.T, g *gateWriter, done <-chan error) {
	t.Helper()
	failsafe := time.After(time.Minute)
	for {
		select {
		case <-g.entered:
			select {
			case g.release <- struct{}{}:
			case <-failsafe:
				t.Fatal("writer never finished")
			}
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-failsafe:
			t.Fatal("Close never returned")
		}
	}
}

func TestCloseDrains(t *testing.T) {
	var out lockedBuffer
	l, err := New(Config{Format: "$status $body_bytes_sent"}, testLog(t), Stdout(&out))
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		l.Log(Record{Status: 200, BodyBytes: int64(i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != n || l.Dropped() != 0 {
		t.Fatalf("%d lines, %d dropped; want %d lines", len(lines), l.Dropped(), n)
	}
	for i, line := range lines {
		if want := "200 " + itoa(i); line != want {
			t.Fatalf("line %d = %q, want %q (order kept)", i, line, want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A line longer than the buffer, and lines that straddle its end, reach
// the writer whole.
func TestWholeLines(t *testing.T) {
	rec := &recordingWriter{}
	l, err := New(Config{Format: "$http_x"}, testLog(t), Stdout(rec))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100, 3000, 3000, pipeBuf * 3, 10} {
		l.Log(Record{Header: map[string][]string{"X": {strings.Repeat("a", n)}}})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) == 0 {
		t.Fatal("nothing written")
	}
	for _, w := range rec.writes {
		if !strings.HasSuffix(w, "\n") {
			t.Fatalf("a write of %d bytes ends inside a line", len(w))
		}
		if len(w) > pipeBuf && strings.Count(w, "\n") > 1 {
			t.Fatalf("a write of %d bytes, over PIPE_BUF, holds several lines", len(w))
		}
	}
}

type recordingWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// logrotate renames the file, then sends SIGUSR1: lines before the
// reopen are in the renamed file, lines after it in a new one at the path.
func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(Config{Path: path, Format: "$status"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(Record{Status: 200})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Log(Record{Status: 201}) // still the old file: it was not reopened yet
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(Record{Status: 304})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "200\n201\n" || string(cur) != "304\n" {
		t.Fatalf("rotated %q, current %q; want \"200\\n201\\n\" and \"304\\n\"", old, cur)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&^0o022 != 0o644&^0o022 {
		t.Errorf("mode %v, want 0644 (less the umask)", perm)
	}
}

// Reopen appends to an existing file and keeps the old one when the path
// cannot be opened.
func TestReopenAppendsAndSurvivesFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Path: path, Format: "$status"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	l.Log(Record{Status: 200})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil { // the path is now a directory
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen onto a directory succeeded")
	}
	l.Log(Record{Status: 500})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".1"); string(b) != "old\n200\n500\n" {
		t.Fatalf("file %q, want old line kept and both new ones appended", b)
	}
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen after Close succeeded")
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Format: "$nosuch"},
		{Format: "nosuchname"},
		{Buffer: -1},
		{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "access.log")},
	} {
		if _, err := New(cfg, testLog(t)); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestOff(t *testing.T) {
	l, err := New(Config{Path: "off"}, testLog(t), Stdout(failWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	if l.Enabled() {
		t.Fatal("off logger says it is enabled")
	}
	l.Log(Record{})
	if l.Dropped() != 0 || l.Reopen() != nil || l.Close() != nil {
		t.Fatal("off logger did something")
	}
}

type failWriter struct{ t *testing.T }

func (w failWriter) Write(p []byte) (int, error) {
	w.t.Errorf("wrote %q", p)
	return len(p), nil
}

func TestLogAllocs(t *testing.T) {
	l, err := New(Config{}, testLog(t), Stdout(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := sample()
	if n := testing.AllocsPerRun(1000, func() { l.Log(r) }); n != 0 {
		t.Fatalf("Log allocates %v times per record", n)
	}
}

// BenchmarkLog is the cost the request path pays (Log) plus, on the
// writer goroutine, formatting and writing (to io.Discard): Close drains
// inside the timed loop's end.
func BenchmarkLog(b *testing.B) {
	for _, name := range []string{"edgecache", "json"} {
		b.Run(name, func(b *testing.B) {
			l, err := New(Config{Format: name, Buffer: 1 << 16}, slog.New(slog.DiscardHandler), Stdout(io.Discard))
			if err != nil {
				b.Fatal(err)
			}
			r := sample()
			b.ReportAllocs()
			for b.Loop() {
				l.Log(r)
			}
			l.Close()
			b.ReportMetric(float64(l.Dropped()), "dropped")
		})
	}
}

// BenchmarkLogThroughput is the whole cost of a record, Log, format and
// write (to io.Discard), with nothing dropped: the producer waits while
// the queue is full, as no request ever does.
func BenchmarkLogThroughput(b *testing.B) {
	for _, name := range []string{"edgecache", "json"} {
		b.Run(name, func(b *testing.B) {
			l, err := New(Config{Format: name, Buffer: 1024}, slog.New(slog.DiscardHandler), Stdout(io.Discard))
			if err != nil {
				b.Fatal(err)
			}
			r := sample()
			b.ReportAllocs()
			for b.Loop() {
				for len(l.records) == cap(l.records) {
					runtime.Gosched()
				}
				l.Log(r)
			}
			l.Close()
			if l.Dropped() != 0 {
				b.Fatalf("%d dropped", l.Dropped())
			}
		})
	}
}
