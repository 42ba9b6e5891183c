package k8s

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// overlayWant is what each overlay must contain beyond the generic checks.
// A new overlay must be added here.
var overlayWant = map[string]struct {
	edgeMinReplicas int32    // the edge HPA's minReplicas
	deployments     []string // every Deployment
	packagerArgs    []string // args the packager must have
	monitors        bool     // ServiceMonitor, PodMonitor and the dashboard
}{
	"base":           {3, []string{"edgecache"}, nil, false},
	"dev":            {1, []string{"edgecache"}, []string{"-demo"}, false},
	"production":     {3, []string{"edgecache"}, nil, false},
	"custom-metrics": {3, []string{"edgecache"}, nil, false},
	"monitoring":     {3, []string{"edgecache"}, nil, true},
	"shield":         {3, []string{"edgecache", "edgecache-shield"}, nil, false},
	"rtsp-hostnetwork": {3, []string{"edgecache"},
		[]string{"-rtsp-listen=:8554", "-config=/etc/packager/packager.yaml"}, false},
	"fleet": {3, []string{"edgecache"}, nil, false},
}

// TestOverlays renders every overlay, decodes each document strictly into
// its Kubernetes type, and runs the semantic checks.
func TestOverlays(t *testing.T) {
	for _, dir := range overlayDirs(t) {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			want, ok := overlayWant[name]
			if !ok {
				t.Fatalf("overlay %s has no entry in overlayWant", name)
			}
			_, objs := renderOverlay(t, dir)
			for _, err := range check(objs) {
				t.Error(err)
			}

			var deployments []string
			var monitors int
			for _, o := range objs {
				switch v := o.Obj.(type) {
				case *appsv1.Deployment:
					deployments = append(deployments, v.Name)
				case *appsv1.StatefulSet:
					for _, a := range want.packagerArgs {
						if !slices.Contains(v.Spec.Template.Spec.Containers[0].Args, a) {
							t.Errorf("%s: packager args %v lack %s", o, v.Spec.Template.Spec.Containers[0].Args, a)
						}
					}
				case *autoscalingv2.HorizontalPodAutoscaler:
					if v.Spec.ScaleTargetRef.Name == "edgecache" && (v.Spec.MinReplicas == nil || *v.Spec.MinReplicas != want.edgeMinReplicas) {
						t.Errorf("%s: minReplicas %v, want %d", o, v.Spec.MinReplicas, want.edgeMinReplicas)
					}
				case *serviceMonitor, *podMonitor:
					monitors++
				case *corev1.ConfigMap:
					if v.Labels["grafana_dashboard"] == "1" {
						monitors++
					}
				}
			}
			slices.Sort(deployments)
			if !slices.Equal(deployments, want.deployments) {
				t.Errorf("Deployments %v, want %v", deployments, want.deployments)
			}
			if got := monitors == 3; got != want.monitors {
				t.Errorf("%d of ServiceMonitor, PodMonitor and dashboard ConfigMap; want all three: %v", monitors, want.monitors)
			}
		})
	}
}

// TestBrokenCopiesFailChecks proves the checks bite: each broken copy of
// an overlay must fail strict decoding or a semantic check, naming the
// problem.
func TestBrokenCopiesFailChecks(t *testing.T) {
	for _, bc := range brokenCopies {
		t.Run(bc.name, func(t *testing.T) {
			stream := bc.build(t)
			objs, err := decodeAll(stream)
			errs := []error{err}
			if err == nil {
				errs = check(objs)
			}
			all := errors.Join(errs...)
			if all == nil {
				t.Fatalf("broken copy passed every check; want an error containing %q", bc.wantCheck)
			}
			if !strings.Contains(all.Error(), bc.wantCheck) {
				t.Fatalf("errors do not mention %q:\n%v", bc.wantCheck, all)
			}
		})
	}
}
