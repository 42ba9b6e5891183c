package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// slowObjects serves 1 MiB objects over about 2 s each.
func slowObjects(t *testing.T) *httptest.Server {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(1<<20))
		chunk := make([]byte, 1<<20/32)
		for range 32 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

func exitCode(t *testing.T, cmd *exec.Cmd, within time.Duration) (int, time.Duration) {
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(start)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, time.Since(start)
	case <-time.After(within):
		t.Fatalf("edgecache still running %v after the signal", within)
		return -1, 0
	}
}

// TestDrainUnderLoad: SIGTERM mid-transfer. Readiness fails at once, the
// edge serves through the grace, refuses new connections after it, every
// in-flight response completes whole, and the process exits 0.
func TestDrainUnderLoad(t *testing.T) {
	o := slowObjects(t)
	// The grace is long enough that the checks made during it fall inside
	// it on a busy machine; what is asserted is the order of events.
	const grace = 4 * time.Second
	p := start(t, nil, "-origin", o.URL, "-shutdown-grace", grace.String(), "-shutdown-timeout", "20s")
	const downloads = 8
	var wg sync.WaitGroup
	results := make([]error, downloads)
	for i := range downloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + p.addr + "/vod/seg-" + strconv.Itoa(i) + ".m4s")
			if err != nil {
				results[i] = err
				return
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if err == nil && n != 1<<20 {
				err = errors.New("short body: " + strconv.FormatInt(n, 10))
			}
			results[i] = err
		}()
	}
	time.Sleep(300 * time.Millisecond) // transfers under way
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// Readiness fails first, while the edge still serves: load balancers
	// take time to notice. (The deadline is a failsafe, not a bound.)
	for failsafe := time.Now().Add(grace); ; {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(failsafe) {
			t.Fatalf("/readyz still not failing %v after SIGTERM, past the grace", time.Since(signalled))
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + p.addr + "/vod/seg-0.m4s")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request once /readyz failed, during the grace: %v %v", err, resp)
	}
	resp.Body.Close()
	// Then new connections are refused, and not before the grace is over.
	for failsafe := time.Now().Add(grace + 15*time.Second); ; {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			if since := time.Since(signalled); since < grace {
				t.Fatalf("new connections refused %v after SIGTERM, within the %v grace", since, grace)
			}
			break
		}
		conn.Close()
		if time.Now().After(failsafe) {
			t.Fatal("new connections still accepted long after the grace")
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, took := exitCode(t, p.cmd, liveness)
	wg.Wait()
	failed := 0
	for i, err := range results {
		if err != nil {
			failed++
			t.Errorf("download %d: %v", i, err)
		}
	}
	t.Logf("drain: exit %d, %v after SIGTERM (exit seen %v after the wait began), %d of %d in-flight downloads failed",
		code, time.Since(signalled).Round(time.Millisecond), took.Round(time.Millisecond), failed, downloads)
	if code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, p.out.String())
	}
	if !strings.Contains(p.out.String(), "drained") {
		t.Fatalf("no drain in the log:\n%s", p.out.String())
	}
}

// TestSecondSignalExitsFast: a second signal does not wait for the drain.
// The grace is an hour, so an exit within the liveness bound can only be
// the second signal cutting the drain short, however slow the machine.
func TestSecondSignalExitsFast(t *testing.T) {
	o := slowObjects(t)
	p := start(t, nil, "-origin", o.URL, "-shutdown-grace", "1h", "-shutdown-timeout", "1h")
	go http.Get("http://" + p.addr + "/vod/long.m4s")
	time.Sleep(200 * time.Millisecond) // a transfer under way; the outcome does not depend on it
	signalled := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	// The second signal goes once the first has started the drain: sent
	// before the first is handled, the kernel may merge the two.
	for !strings.Contains(p.out.String(), "msg=draining") {
		if time.Since(signalled) > liveness {
			t.Fatalf("no drain %v after SIGTERM", liveness)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	code, took := exitCode(t, p.cmd, liveness)
	if code == 0 {
		t.Fatal("a fast exit reported success")
	}
	if !strings.Contains(p.out.String(), "second signal, exiting without draining") {
		t.Fatalf("exit %d without the second-signal message:\n%s", code, p.out.String())
	}
	t.Logf("second signal: exit %d after %v", code, took)
}
