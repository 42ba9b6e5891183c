package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlayDirs lists what can be applied: the base and every directory
// under overlays/ with a kustomization.yaml, so a new overlay is tested
// without touching the tests.
func overlayDirs(t testing.TB) []string {
	t.Helper()
	ms, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no overlays under deploy/k8s/overlays")
	}
	dirs := []string{"base"}
	for _, m := range ms {
		dirs = append(dirs, filepath.Dir(m))
	}
	slices.Sort(dirs[1:])
	return dirs
}

// render builds a kustomization with the kustomize library (the version
// kubectl v1.32 embeds), as `kubectl kustomize dir` would.
func render(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return m.AsYaml()
}

// splitDocs splits a YAML stream into its documents.
func splitDocs(stream []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
}

// joinDocs is the inverse of splitDocs.
func joinDocs(docs [][]byte) []byte {
	var b bytes.Buffer
	for _, d := range docs {
		b.WriteString("---\n")
		b.Write(d)
		if !bytes.HasSuffix(d, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// object is one decoded document.
type object struct {
	Kind, Name string
	Obj        any // *appsv1.Deployment, *corev1.Service, ...
}

func (o object) String() string { return o.Kind + "/" + o.Name }

// kinds maps apiVersion and kind to the Go type a document must decode
// into. A kind missing here fails the test: add its type.
var kinds = map[string]func() any{
	"v1/Namespace":                            func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                     func() any { return new(appsv1.StatefulSet) },
	"networking.k8s.io/v1/Ingress":            func() any { return new(networkingv1.Ingress) },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(serviceMonitor) },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return new(podMonitor) },
}

// decodeStrict decodes one YAML document into the type its apiVersion and
// kind name, the way the API server does with strict field validation:
// case-sensitive field names, and an unknown or duplicate field is an
// error rather than silently dropped.
func decodeStrict(doc []byte) (object, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return object{}, err
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return object{}, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return object{}, fmt.Errorf("no Go type for %s %s: add it to kinds", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	strictErrs, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return object{}, fmt.Errorf("%s has no metadata", tm.Kind)
	}
	o := object{Kind: tm.Kind, Name: m.GetName(), Obj: obj}
	if len(strictErrs) > 0 {
		return o, fmt.Errorf("%s: %w", o, errors.Join(strictErrs...))
	}
	return o, nil
}

// decodeAll decodes every document of a stream strictly.
func decodeAll(stream []byte) ([]object, error) {
	docs, err := splitDocs(stream)
	if err != nil {
		return nil, err
	}
	var objs []object
	var errs []error
	for _, d := range docs {
		o, err := decodeStrict(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs, errors.Join(errs...)
}

// renderOverlay renders and strictly decodes one overlay.
func renderOverlay(t testing.TB, dir string) ([]byte, []object) {
	t.Helper()
	stream, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(stream)
	if err != nil {
		t.Fatalf("%s: strict decode: %v", dir, err)
	}
	return stream, objs
}

// serviceMonitor and podMonitor are the subset of prometheus-operator's
// monitoring.coreos.com/v1 types that deploy/k8s uses, with the upstream
// JSON names; strict decoding rejects anything else, so a field used here
// must be added (checked against the upstream API) first.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *namespaceSelector   `json:"namespaceSelector,omitempty"`
		Endpoints         []scrapeEndpoint     `json:"endpoints"`
	} `json:"spec"`
}

type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel            string               `json:"jobLabel,omitempty"`
		Selector            metav1.LabelSelector `json:"selector"`
		NamespaceSelector   *namespaceSelector   `json:"namespaceSelector,omitempty"`
		PodMetricsEndpoints []scrapeEndpoint     `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

type namespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

type scrapeEndpoint struct {
	Port          string `json:"port,omitempty"`
	Path          string `json:"path,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
	HonorLabels   bool   `json:"honorLabels,omitempty"`
}

// readFile reads a file of the package directory.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
