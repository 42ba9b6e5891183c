package k8s

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// toolsScript builds kube-apiserver and kubectl once into a cache outside
// the repo and prints their directory.
const toolsScript = "../../scripts/kube-apiserver.sh"

// k8sTools returns the directory holding kube-apiserver and kubectl,
// building them first if needed (a cold build takes minutes).
func k8sTools(t *testing.T) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("bash", toolsScript)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", toolsScript, err, tail(stderr.Bytes(), 4000))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := lines[len(lines)-1]
	for _, b := range []string{"kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("%s printed %q, which has no %s: %v", toolsScript, dir, b, err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("built kube-apiserver and kubectl in %v", d.Round(time.Second))
	}
	return dir
}

// requireEtcd fails, never skips, without etcd.
func requireEtcd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd not found in PATH: install etcd-server (apt-get install etcd-server, or make test-deps) to run the kube-apiserver dry run")
	}
	return p
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited
	err  error         // its exit, valid after done
}

// startProc starts a process and registers its stop (by PID: SIGTERM, then
// SIGKILL after 10s) with t.Cleanup.
func startProc(t *testing.T, dir, name, bin string, args ...string) *proc {
	t.Helper()
	log := filepath.Join(dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// logTail is the end of the process's log, for failure messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	return tail(b, 3000)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitReady polls ready until it succeeds, failing if the process exits or
// the timeout passes.
func (p *proc) waitReady(t *testing.T, timeout time.Duration, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before it was ready; log:\n%s", p.name, p.err, p.logTail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v: %v; log:\n%s", p.name, timeout, err, p.logTail())
		}
	}
}

// cluster is etcd and kube-apiserver on loopback, and a kubectl for them.
type cluster struct {
	kubectlBin string
	kubeconfig string
	home       string // HOME and cache dir for kubectl, not the user's
}

// startCluster starts etcd and kube-apiserver on free loopback ports in a
// temporary directory; t.Cleanup stops both (the API server first).
func startCluster(t *testing.T) *cluster {
	t.Helper()
	etcdBin := requireEtcd(t)
	bin := k8sTools(t)
	dir := t.TempDir()

	clientPort, peerPort := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	etcd := startProc(t, dir, "etcd", etcdBin,
		"--name=dryrun",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=dryrun="+peerURL,
		"--log-level=warn",
	)
	etcd.waitReady(t, 30*time.Second, func() error {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: %s", resp.Status)
		}
		return nil
	})

	// Service-account tokens need a signing key, even though nothing here
	// uses one.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(dir, "sa.key")
	writeFile(t, saKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(tok)
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, []byte(token+`,admin,admin,"system:masters"`+"\n"))

	port := freePort(t)
	certDir := filepath.Join(dir, "certs")
	api := startProc(t, dir, "kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+certDir, // a self-signed serving certificate
		"--token-auth-file="+tokens,
		"--authorization-mode=AlwaysAllow",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=false",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	)
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// Only until the server has written its self-signed certificate;
		// kubectl verifies against it below.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	api.waitReady(t, 3*time.Minute, func() error {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})

	c := &cluster{
		kubectlBin: filepath.Join(bin, "kubectl"),
		kubeconfig: filepath.Join(dir, "kubeconfig"),
		home:       filepath.Join(dir, "home"),
	}
	writeFile(t, c.kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: dryrun
    cluster:
      server: %s
      certificate-authority: %s
users:
  - name: admin
    user:
      token: %s
contexts:
  - name: dryrun
    context:
      cluster: dryrun
      user: admin
current-context: dryrun
`, server, filepath.Join(certDir, "apiserver.crt"), token)))
	return c
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// kubectl runs kubectl against the cluster with stdin, returning stdout,
// stderr and the exit error.
func (c *cluster) kubectl(stdin []byte, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--kubeconfig=" + c.kubeconfig, "--cache-dir=" + filepath.Join(c.home, "cache")}, args...)
	cmd := exec.CommandContext(ctx, c.kubectlBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+c.home, "KUBECONFIG="+c.kubeconfig)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return stdout.String(), stderr.String(), err
}

func (c *cluster) mustKubectl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, errOut, err := c.kubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}
