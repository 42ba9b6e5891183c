package accesslog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the access_log section of the config file.
type Config struct {
	// Path is where lines go: "stdout" (the default, for Kubernetes),
	// "stderr", "off", or a file, opened for appending (mode 0644) and
	// reopened by Reopen (SIGUSR1, for logrotate).
	Path string `yaml:"path"`
	// Format is a built-in format's name ("edgecache", the default;
	// "combined"; "json") or an nginx log_format string with $variables.
	Format string `yaml:"format"`
	// Buffer is how many records may wait for the writer; when it is
	// full a record is dropped and counted, never waited for. Default
	// 8192.
	Buffer int `yaml:"buffer"`
}

// DefaultBuffer is Config.Buffer's default.
const DefaultBuffer = 8192

// Off reports whether the config turns the access log off.
func (c Config) Off() bool { return c.Path == "off" }

// Validate checks the config as New would, without opening anything.
func (c Config) Validate() error {
	if c.Buffer < 0 {
		return fmt.Errorf("access_log.buffer %d is negative", c.Buffer)
	}
	if _, err := Lookup(c.Format); err != nil {
		return fmt.Errorf("access_log.format: %w", err)
	}
	return nil
}

// Option changes what New writes to.
type Option func(*options)

type options struct {
	stdout, stderr io.Writer
}

// Stdout sets the writer Path "stdout" means (os.Stdout by default): the
// edge passes the writer its own log shares, so the two never write into
// each other's lines.
func Stdout(w io.Writer) Option { return func(o *options) { o.stdout = w } }

// Stderr sets the writer Path "stderr" means (os.Stderr by default).
func Stderr(w io.Writer) Option { return func(o *options) { o.stderr = w } }

// Buffer sizes: the writer is handed only whole lines, at most this many
// bytes at a time. To a pipe (stdout, stderr) that is PIPE_BUF, so a
// write is atomic and no other writer's line lands inside one of ours; to
// a file opened for appending, each write is appended whole.
const (
	pipeBuf = 4096
	fileBuf = 64 << 10
)

// flushEvery is how often the writer goroutine wakes to write what has
// been queued: a line reaches the file or stdout at most this late. The
// writer does not wake for each record: a request's Log is then a
// channel send that wakes no goroutine, and a busy edge makes one write
// call per batch, not one per request (nginx without buffer= makes one
// per request). Under load a quarter-full queue wakes it early.
const flushEvery = 100 * time.Millisecond

// Logger writes access log lines off the request path. Log hands it a
// record without blocking; one goroutine the Logger owns formats and
// writes, every flushEvery or sooner when the queue fills. Close stops
// it.
type Logger struct {
	log    *slog.Logger
	format *Format
	path   string // a file's path; "" for stdout and stderr
	off    bool

	records chan Record
	dropped atomic.Uint64
	closed  atomic.Bool

	kick   chan struct{} // wakes the writer early: the queue fills up
	kickAt int           // queue length at which Log kicks

	reopen    chan chan error
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// Owned by the writer goroutine (and New before it starts).
	w       io.Writer
	file    *os.File // w when Path is a file
	buf     []byte
	line    []byte
	failing bool // the last write failed; logged once until one succeeds
}

// New starts a Logger. cfg is validated; a file is opened now, so a path
// that cannot be written is an error at start-up, not a silent loss.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{stdout: os.Stdout, stderr: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	f, _ := Lookup(cfg.Format)
	l := &Logger{log: log.With("component", "accesslog"), format: f}
	switch cfg.Path {
	case "off":
		l.off = true
		return l, nil
	case "", "stdout":
		l.w, l.buf = o.stdout, make([]byte, 0, pipeBuf)
	case "stderr":
		l.w, l.buf = o.stderr, make([]byte, 0, pipeBuf)
	default:
		file, err := openLog(cfg.Path)
		if err != nil {
			return nil, err
		}
		l.path, l.file, l.w, l.buf = cfg.Path, file, file, make([]byte, 0, fileBuf)
	}
	n := cfg.Buffer
	if n == 0 {
		n = DefaultBuffer
	}
	l.records = make(chan Record, n)
	l.kick = make(chan struct{}, 1)
	l.kickAt = max(1, n/4)
	l.reopen = make(chan chan error)
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	l.line = make([]byte, 0, 512)
	go l.run()
	return l, nil
}

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// Enabled reports whether records are written (the path is not "off"):
// a caller may skip building them otherwise.
func (l *Logger) Enabled() bool { return !l.off }

// Log queues r for writing. It never blocks: when the queue is full, or
// the Logger is closed, r is dropped and counted. r.Header must not change
// afterwards.
func (l *Logger) Log(r Record) {
	if l.off {
		return
	}
	if l.closed.Load() {
		l.dropped.Add(1)
		return
	}
	select {
	case l.records <- r:
		if len(l.records) >= l.kickAt {
			select {
			case l.kick <- struct{}{}:
			default: // already kicked
			}
		}
	default:
		l.dropped.Add(1)
	}
}

// Dropped is how many records Log has dropped.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Reopen flushes, closes and reopens the file (for logrotate, which has
// renamed it: SIGUSR1, as nginx). If the path cannot be opened, the old
// file stays in use and the error is returned. For stdout, stderr and
// off it does nothing.
func (l *Logger) Reopen() error {
	if l.off || l.path == "" {
		return nil
	}
	reply := make(chan error, 1)
	select {
	case l.reopen <- reply:
		return <-reply
	case <-l.done:
		return errors.New("access log: closed")
	}
}

// Close writes what is queued, flushes, closes the file and stops the
// goroutine. Records logged after Close are dropped. Only the first call
// does anything; every call returns its result.
func (l *Logger) Close() error {
	if l.off {
		return nil
	}
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
		<-l.done
	})
	return l.closeErr
}

func (l *Logger) run() {
	defer close(l.done)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			l.drain()
		case <-l.kick:
			l.drain()
		case reply := <-l.reopen:
			// What was queued before the reopen goes to the old file.
			l.drain()
			reply <- l.reopenFile()
		case <-l.stop:
			l.drain()
			if l.file != nil {
				if err := l.file.Close(); err != nil {
					l.closeErr = fmt.Errorf("access log: %w", err)
				}
			}
			return
		}
	}
}

// drain writes the records queued now, and flushes. It takes at most as
// many as were queued when it began, so a steady stream of records cannot
// keep it from answering a reopen or a stop.
func (l *Logger) drain() {
	for n := len(l.records); n > 0; n-- {
		r := <-l.records
		l.write(&r)
	}
	l.flush()
}

// write formats one record into the buffer, flushing first if the line
// would not fit, so the writer only ever gets whole lines.
func (l *Logger) write(r *Record) {
	l.line = append(l.format.Append(l.line[:0], r), '\n')
	if len(l.buf)+len(l.line) > cap(l.buf) {
		l.flush()
	}
	if len(l.line) > cap(l.buf) {
		l.writeOut(l.line) // a line longer than the buffer goes alone
		return
	}
	l.buf = append(l.buf, l.line...)
	if cap(l.line) > 64<<10 {
		l.line = make([]byte, 0, 512) // do not keep one huge line's buffer
	}
}

func (l *Logger) flush() {
	if len(l.buf) == 0 {
		return
	}
	l.writeOut(l.buf)
	l.buf = l.buf[:0]
}

// writeOut writes b. A failure (disk full, closed pipe) loses b: it is
// logged once, and again only after a write has succeeded.
func (l *Logger) writeOut(b []byte) {
	_, err := l.w.Write(b)
	switch {
	case err != nil && !l.failing:
		l.failing = true
		l.log.Error("access log write failed; lines are lost until it recovers", "path", l.path, "err", err)
	case err == nil && l.failing:
		l.failing = false
		l.log.Info("access log writes again", "path", l.path)
	}
}

func (l *Logger) reopenFile() error {
	f, err := openLog(l.path)
	if err != nil {
		l.log.Error("access log reopen failed; still writing to the old file", "path", l.path, "err", err)
		return err
	}
	old := l.file
	l.file, l.w = f, f
	if err := old.Close(); err != nil {
		l.log.Warn("access log: closing the old file", "err", err)
	}
	l.log.Info("access log reopened", "path", l.path)
	return nil
}
