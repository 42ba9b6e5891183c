package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is one binary the fleet runs: a packager, a shield or an edge.
type proc struct {
	name  string
	bin   string
	args  []string
	ready string // URL that answers 200 once it serves
	logs  string // directory for its output

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	err  error         // cmd.Wait's, once done is closed
	runs int
}

// start launches the process; its output goes to <logs>/<name>.<run>.log.
func (p *proc) start() error {
	p.runs++
	f, err := os.Create(filepath.Join(p.logs, fmt.Sprintf("%s.%d.log", p.name, p.runs)))
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.done = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return nil
}

// waitReady polls the ready URL until it answers 200, the process exits,
// or ctx ends.
func (p *proc) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second}
	for i := 0; ; i++ {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v (see %s)", p.name, p.err, p.logs)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.name, ctx.Err())
		default:
		}
		if resp, err := c.Get(p.ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signal sends sig to the process by its PID (only ever one this harness
// started).
func (p *proc) signal(sig syscall.Signal) {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends sig and waits up to wait for the exit, then kills.
func (p *proc) stop(sig syscall.Signal, wait time.Duration) error {
	if p.cmd == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	p.signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not exit within %v of %v: killed", p.name, wait, sig)
	}
	var ee *exec.ExitError
	if p.err != nil && sig == syscall.SIGTERM && !errors.As(p.err, &ee) {
		return p.err
	}
	return nil
}
