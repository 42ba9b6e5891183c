package k8s

import (
	"path/filepath"
	"sigs.k8s.io/yaml"
	"strings"
	"testing"
	"time"
)

// TestDryRunServer validates every overlay against a real kube-apiserver
// (v1.32.3, with etcd): `kubectl apply --dry-run=server --validate=strict`
// runs the API server's defaulting, validation, strict field checks and
// admission (Pod Security "restricted" warns through the namespace's label)
// without persisting anything. The broken copies must be rejected, or
// warned about, with an error that names the problem.
func TestDryRunServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver (and may build kube-apiserver); run without -short")
	}
	start := time.Now()
	cl := startCluster(t)
	t.Logf("etcd and kube-apiserver ready in %v", time.Since(start).Round(time.Millisecond))

	// The monitoring CRDs and the namespace exist for real: a dry run of a
	// namespaced object needs its namespace, and of a custom resource its
	// CRD, established.
	cl.mustKubectl(t, nil, "apply", "-f", "testdata/monitoring-crds.yaml")
	cl.mustKubectl(t, nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/podmonitors.monitoring.coreos.com")
	cl.mustKubectl(t, nil, "apply", "-f", "base/namespace.yaml")

	dryRun := []string{"apply", "--dry-run=server", "--validate=strict", "-f", "-"}
	for _, dir := range overlayDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			stream, objs := renderOverlay(t, dir)
			// Pod Security admission judges a pod template by its
			// namespace as stored, which a dry run does not change: store
			// this overlay's Namespace first (rtsp-hostnetwork relabels it).
			cl.mustKubectl(t, namespaceDoc(t, stream), "apply", "-f", "-")
			began := time.Now()
			out, errOut, err := cl.kubectl(stream, dryRun...)
			if err != nil {
				t.Fatalf("kube-apiserver rejected %s: %v\n%s%s", dir, err, out, errOut)
			}
			// kubectl prints API warnings (Pod Security, deprecations) on
			// stderr; the manifests must draw none.
			if strings.TrimSpace(errOut) != "" {
				t.Errorf("warnings from kube-apiserver:\n%s", errOut)
			}
			if n := strings.Count(out, "(server dry run)"); n != len(objs) {
				t.Errorf("%d objects accepted, want %d:\n%s", n, len(objs), out)
			}
			t.Logf("%d objects accepted in %v", len(objs), time.Since(began).Round(time.Millisecond))
		})
	}

	cl.mustKubectl(t, nil, "apply", "-f", "base/namespace.yaml")
	t.Run("broken", func(t *testing.T) {
		for _, bc := range brokenCopies {
			t.Run(bc.name, func(t *testing.T) {
				out, errOut, err := cl.kubectl(bc.build(t), dryRun...)
				all := out + errOut
				switch {
				case bc.wantServer != "":
					if err == nil {
						t.Fatalf("kube-apiserver accepted the broken copy; want an error containing %q\n%s", bc.wantServer, all)
					}
					if !strings.Contains(all, bc.wantServer) {
						t.Fatalf("error does not name the problem %q:\n%s", bc.wantServer, all)
					}
				case bc.wantWarning != "":
					if err != nil {
						t.Fatalf("kube-apiserver rejected the copy; want only a warning: %v\n%s", err, all)
					}
					if !strings.Contains(errOut, bc.wantWarning) {
						t.Fatalf("no warning %q:\n%s", bc.wantWarning, all)
					}
				default:
					// Only the static checks know this is wrong: the API
					// server cannot, which is why they exist.
					if err != nil {
						t.Fatalf("kube-apiserver rejected a copy the table says it accepts (add wantServer): %v\n%s", err, all)
					}
				}
			})
		}
	})
}

// namespaceDoc is the Namespace document of a rendered overlay.
func namespaceDoc(t *testing.T, stream []byte) []byte {
	t.Helper()
	docs, err := splitDocs(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		var m struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(d, &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == "Namespace" {
			return joinDocs([][]byte{d})
		}
	}
	t.Fatal("overlay has no Namespace")
	return nil
}
