package k8s

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgecache/edgecache/internal/edgeconfig"
	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/origin/ingest"
	"github.com/edgecache/edgecache/proxy"
)

// The image runs as this user (distroless "nonroot"), FROM scratch.
const imageUID = 65532

// Drain margin: terminationGracePeriodSeconds must exceed the edge's
// shutdown grace plus shutdown timeout by at least this, so the kubelet's
// SIGKILL never cuts a drain that is still within its limits.
const drainMargin = 5 * time.Second

// rssEstimate is the edge's resident memory for a cache budget: the Go
// memory limit it sets (cache + 5% + 32MiB) plus runtime overhead, about
// cache + 5% + 40MiB (cmd/edgecache setMemoryLimit).
func rssEstimate(cache int64) int64 { return cache + cache/20 + 40<<20 }

// limitHeadroom is what the memory limit needs above the RSS estimate for
// bursts of fills in flight.
const limitHeadroom = 64 << 20

// decodeEdgeConfig decodes an edge config as the edge does: strictly,
// over its defaults, then validated.
func decodeEdgeConfig(b []byte) (edgeconfig.File, error) {
	cfg := edgeconfig.Default()
	if err := edgeconfig.Decode(b, &cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Proxy.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// workload is a Deployment or StatefulSet, reduced to what the checks need.
type workload struct {
	obj      object
	selector *metav1.LabelSelector
	template *corev1.PodTemplateSpec
	replicas *int32
}

// checker runs the semantic checks over one rendered overlay.
type checker struct {
	objs      []object
	workloads []workload
	services  map[string]*corev1.Service
	configMap map[string]*corev1.ConfigMap
	hpas      []*autoscalingv2.HorizontalPodAutoscaler
	errs      []error
}

func (c *checker) errorf(o fmt.Stringer, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, args...)))
}

// check returns every problem found in one overlay's objects.
func check(objs []object) []error {
	c := &checker{objs: objs, services: map[string]*corev1.Service{}, configMap: map[string]*corev1.ConfigMap{}}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			c.workloads = append(c.workloads, workload{o, v.Spec.Selector, &v.Spec.Template, v.Spec.Replicas})
		case *appsv1.StatefulSet:
			c.workloads = append(c.workloads, workload{o, v.Spec.Selector, &v.Spec.Template, v.Spec.Replicas})
		case *corev1.Service:
			c.services[v.Name] = v
		case *corev1.ConfigMap:
			c.configMap[v.Name] = v
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.hpas = append(c.hpas, v)
		}
	}
	c.checkNamespace()
	c.checkImages()
	for _, w := range c.workloads {
		c.checkWorkload(w)
	}
	c.checkEdges()
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.StatefulSet:
			c.checkStatefulSet(o, v)
		case *corev1.Service:
			c.checkService(o, v)
		case *networkingv1.Ingress:
			c.checkIngress(o, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.checkHPA(o, v)
		case *policyv1.PodDisruptionBudget:
			c.checkPDB(o, v)
		case *serviceMonitor:
			c.checkServiceMonitor(o, v)
		case *podMonitor:
			c.checkPodMonitor(o, v)
		}
	}
	return c.errs
}

func (c *checker) checkNamespace() {
	var ns []string
	for _, o := range c.objs {
		if n, ok := o.Obj.(*corev1.Namespace); ok {
			ns = append(ns, n.Name)
		}
	}
	if len(ns) != 1 {
		c.errs = append(c.errs, fmt.Errorf("want one Namespace, got %v", ns))
		return
	}
	for _, o := range c.objs {
		if _, ok := o.Obj.(*corev1.Namespace); ok {
			continue
		}
		if got := o.Obj.(metav1.Object).GetNamespace(); got != ns[0] {
			c.errorf(o, "namespace %q, want %q", got, ns[0])
		}
	}
}

// checkImages: one image holds both binaries, so every container of an
// overlay runs the same image (an overlay that adds a workload must also
// retarget it).
func (c *checker) checkImages() {
	images := map[string][]string{}
	for _, w := range c.workloads {
		for _, ct := range w.template.Spec.Containers {
			images[ct.Image] = append(images[ct.Image], w.obj.String())
		}
	}
	if len(images) > 1 {
		c.errs = append(c.errs, fmt.Errorf("containers run different images, want one: %v", images))
	}
}

func (c *checker) checkWorkload(w workload) {
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	switch {
	case err != nil:
		c.errorf(w.obj, "selector: %v", err)
	case w.selector == nil || sel.Empty():
		c.errorf(w.obj, "empty selector")
	case !sel.Matches(labels.Set(w.template.Labels)):
		c.errorf(w.obj, "selector %s does not match template labels %v", sel, w.template.Labels)
	}
	spec := &w.template.Spec
	c.checkHostNetwork(w)
	if spec.TerminationGracePeriodSeconds == nil {
		c.errorf(w.obj, "no terminationGracePeriodSeconds")
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, ct := range spec.Containers {
		at := fmt.Sprintf("%s container %s", w.obj, ct.Name)
		c.checkSecurity(at, psc, ct.SecurityContext)
		for name, p := range map[string]*corev1.Probe{"liveness": ct.LivenessProbe, "readiness": ct.ReadinessProbe, "startup": ct.StartupProbe} {
			if p == nil {
				if name != "startup" {
					c.errs = append(c.errs, fmt.Errorf("%s: no %s probe", at, name))
				}
				continue
			}
			var port *intstr.IntOrString
			switch {
			case p.HTTPGet != nil:
				port = &p.HTTPGet.Port
			case p.TCPSocket != nil:
				port = &p.TCPSocket.Port
			}
			if port != nil && containerPort(ct, *port) == 0 {
				c.errs = append(c.errs, fmt.Errorf("%s: %s probe port %s is not a declared container port", at, name, port.String()))
			}
		}
		r := ct.Resources
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, ok := r.Requests[res]
			if !ok {
				c.errs = append(c.errs, fmt.Errorf("%s: no %s request", at, res))
				continue
			}
			if lim, ok := r.Limits[res]; ok && lim.Cmp(req) < 0 {
				c.errs = append(c.errs, fmt.Errorf("%s: %s limit %s below request %s", at, res, lim.String(), req.String()))
			}
		}
		if _, ok := r.Limits[corev1.ResourceMemory]; !ok {
			c.errs = append(c.errs, fmt.Errorf("%s: no memory limit", at))
		}
	}
}

// checkSecurity: what Pod Security "restricted" demands, plus the image's
// user and a read-only root file system.
func (c *checker) checkSecurity(at string, psc *corev1.PodSecurityContext, sc *corev1.SecurityContext) {
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	bad := func(format string, args ...any) {
		c.errs = append(c.errs, fmt.Errorf("%s: securityContext: %s", at, fmt.Sprintf(format, args...)))
	}
	nonRoot := cmpOr(sc.RunAsNonRoot, psc.RunAsNonRoot)
	if nonRoot == nil || !*nonRoot {
		bad("runAsNonRoot is not true")
	}
	if uid := cmpOr(sc.RunAsUser, psc.RunAsUser); uid == nil || *uid != imageUID {
		bad("runAsUser is not %d", imageUID)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		bad("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		bad("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		bad("capabilities must drop ALL and add none")
	}
	sp := sc.SeccompProfile
	if sp == nil {
		sp = psc.SeccompProfile
	}
	if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("seccompProfile is not RuntimeDefault")
	}
}

func cmpOr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// containerPort resolves a port name or number against a container's
// declared ports; 0 means not declared.
func containerPort(ct corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range ct.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

// podPort resolves a port against every container of a pod.
func podPort(spec *corev1.PodSpec, p intstr.IntOrString) int32 {
	for _, ct := range spec.Containers {
		if n := containerPort(ct, p); n != 0 {
			return n
		}
	}
	return 0
}

// selected returns the workloads whose pods a selector picks.
func (c *checker) selected(sel labels.Selector) []workload {
	var ws []workload
	for _, w := range c.workloads {
		if !sel.Empty() && sel.Matches(labels.Set(w.template.Labels)) {
			ws = append(ws, w)
		}
	}
	return ws
}

// hpaFor returns the HPA that scales a workload, if any.
func (c *checker) hpaFor(w workload) *autoscalingv2.HorizontalPodAutoscaler {
	for _, h := range c.hpas {
		if h.Spec.ScaleTargetRef.Kind == w.obj.Kind && h.Spec.ScaleTargetRef.Name == w.obj.Name {
			return h
		}
	}
	return nil
}

// flagValue is the value a Go flag of a binary gets from the container:
// from args (-name=v, -name v, --name=v) or else from its environment
// variable (EDGECACHE_NAME for the edge, PACKAGER_NAME for the packager).
func flagValue(ct corev1.Container, name string) (string, bool) {
	prefix := "EDGECACHE_"
	if !isEdgecache(ct) {
		prefix = "PACKAGER_"
	}
	for i, a := range ct.Args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(ct.Args) {
			return ct.Args[i+1], true
		}
	}
	env := prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	for _, e := range ct.Env {
		if e.Name == env {
			return e.Value, true
		}
	}
	return "", false
}

func isEdgecache(ct corev1.Container) bool {
	return len(ct.Command) == 0 || ct.Command[0] == "/edgecache"
}

// checkPackager checks a packager container's drain against the pod's
// terminationGracePeriodSeconds (cmd/packager's defaults: 5s and 30s).
func (c *checker) checkPackager(w workload, ct corev1.Container) {
	at := fmt.Sprintf("%s container %s", w.obj, ct.Name)
	d := map[string]time.Duration{"shutdown-grace": 5 * time.Second, "shutdown-timeout": 30 * time.Second}
	for name := range d {
		if v, ok := flagValue(ct, name); ok {
			x, err := time.ParseDuration(v)
			if err != nil {
				c.errs = append(c.errs, fmt.Errorf("%s: %s %q: %v", at, name, v, err))
			}
			d[name] = x
		}
	}
	c.checkDrain(at, w, ct, d["shutdown-grace"], d["shutdown-timeout"])
	// SRT is UDP: a port declared (or a Service forwarding) as TCP would
	// never reach the listener.
	if v, ok := flagValue(ct, "srt-listen"); ok {
		_, p, err := net.SplitHostPort(v)
		n, _ := strconv.Atoi(p)
		declared := slices.ContainsFunc(ct.Ports, func(cp corev1.ContainerPort) bool {
			return cp.Name == "srt" && cp.ContainerPort == int32(n) && cp.Protocol == corev1.ProtocolUDP
		})
		if err != nil || !declared {
			c.errs = append(c.errs, fmt.Errorf("%s: -srt-listen %q has no UDP container port named srt", at, v))
		}
	}
	c.checkPackagerConfig(at, w, ct)
}

// checkHostNetwork: a pod on the node's network (the packager, for RTP
// over UDP port ranges) must still resolve cluster names, and must not
// share a node with another pod wanting the same ports.
func (c *checker) checkHostNetwork(w workload) {
	spec := &w.template.Spec
	if !spec.HostNetwork {
		return
	}
	if spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		c.errorf(w.obj, "hostNetwork with dnsPolicy %q: want ClusterFirstWithHostNet, or cluster names do not resolve", spec.DNSPolicy)
	}
	for _, ct := range spec.Containers {
		for _, p := range ct.Ports {
			if p.HostPort != p.ContainerPort {
				c.errorf(w.obj, "hostNetwork container %s port %s: hostPort %d, want %d (declared, the scheduler keeps pods wanting it apart)", ct.Name, p.Name, p.HostPort, p.ContainerPort)
			}
		}
	}
	own := labels.Set(w.template.Labels)
	apart := false
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
			if err == nil && !sel.Empty() && sel.Matches(own) && term.TopologyKey == corev1.LabelHostname {
				apart = true
			}
		}
	}
	if !apart {
		c.errorf(w.obj, "hostNetwork without a required pod anti-affinity on %s matching its own pods: two replicas on one node fight over its ports", corev1.LabelHostname)
	}
}

// checkPackagerConfig decodes the packager's -config file from the
// ConfigMap mounted for it, as the packager does (strictly, defaults,
// validation). On the node's network, the RTSP server's RTP/RTCP pair
// (the first of rtsp.udp_ports) must be declared as UDP ports.
func (c *checker) checkPackagerConfig(at string, w workload, ct corev1.Container) {
	file, ok := flagValue(ct, "config")
	if !ok {
		return
	}
	var data string
	found := false
	for _, m := range ct.VolumeMounts {
		rel, err := filepathRel(m.MountPath, file)
		if err != nil {
			continue
		}
		for _, v := range w.template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm := c.configMapNamed(v.ConfigMap.Name)
			if cm == nil {
				c.errs = append(c.errs, fmt.Errorf("%s: -config %s: ConfigMap %s is not in this overlay", at, file, v.ConfigMap.Name))
				return
			}
			data, found = cm.Data[rel]
		}
	}
	if !found {
		c.errs = append(c.errs, fmt.Errorf("%s: -config %s is not a file of a mounted ConfigMap", at, file))
		return
	}
	cfg, err := origin.ParseConfig([]byte(data))
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: -config %s: %v", at, file, err))
		return
	}
	listen, _ := flagValue(ct, "rtsp-listen")
	if listen == "" {
		listen = cfg.RTSP.Listen
	}
	if listen == "" || !w.template.Spec.HostNetwork {
		return
	}
	r, err := ingest.ParsePortRange(cfg.RTSP.UDPPorts)
	if err != nil || r.Pairs() == 0 {
		return
	}
	for _, port := range []int32{int32(r.Min), int32(r.Min + 1)} {
		declared := false
		for _, p := range ct.Ports {
			declared = declared || (p.ContainerPort == port && p.Protocol == corev1.ProtocolUDP)
		}
		if !declared {
			c.errs = append(c.errs, fmt.Errorf("%s: rtsp.udp_ports %s: UDP port %d (the RTSP server's RTP/RTCP pair) is not a declared container port", at, cfg.RTSP.UDPPorts, port))
		}
	}
}

// configMapNamed finds a ConfigMap of the overlay by name (kustomize
// rewrites volume references to a generator's hashed name).
func (c *checker) configMapNamed(name string) *corev1.ConfigMap { return c.configMap[name] }

// filepathRel is the file name of file inside directory dir ("" and an
// error when it is not directly inside).
func filepathRel(dir, file string) (string, error) {
	d, f := path.Clean(dir), path.Clean(file)
	if path.Dir(f) != d {
		return "", fmt.Errorf("%s not in %s", file, dir)
	}
	return path.Base(f), nil
}

// checkDrain: the kubelet's SIGKILL must come after grace + timeout (and a
// preStop sleep, if any, which runs before SIGTERM).
func (c *checker) checkDrain(at string, w workload, ct corev1.Container, grace, timeout time.Duration) {
	tgps := 30 * time.Second
	if s := w.template.Spec.TerminationGracePeriodSeconds; s != nil {
		tgps = time.Duration(*s) * time.Second
	}
	var preStop time.Duration
	if l := ct.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	if need := preStop + grace + timeout + drainMargin; tgps < need {
		c.errs = append(c.errs, fmt.Errorf("%s: terminationGracePeriodSeconds %v < preStop %v + shutdown_grace %v + shutdown_timeout %v + %v margin", at, tgps, preStop, grace, timeout, drainMargin))
	}
}

// checkEdges checks each edgecache container against the config it loads:
// ports, probes, memory, drain timing, Via name and routes.
func (c *checker) checkEdges() {
	names := map[string]string{}
	for _, w := range c.workloads {
		for _, ct := range w.template.Spec.Containers {
			if !isEdgecache(ct) {
				c.checkPackager(w, ct)
				continue
			}
			at := fmt.Sprintf("%s container %s", w.obj, ct.Name)
			cfg, ok := c.edgeConfig(at, w, ct)
			if !ok {
				continue
			}
			c.checkEdge(at, w, ct, cfg)
			name := cfg.Proxy.ServerName
			if name == "" {
				c.errs = append(c.errs, fmt.Errorf("%s: no server_name: each tier needs its own for Via loop detection", at))
			} else if other, dup := names[name]; dup {
				c.errs = append(c.errs, fmt.Errorf("%s: server_name %q is also %s's: tiers need distinct names for Via loop detection", at, name, other))
			}
			names[name] = w.obj.String()
		}
	}
}

// edgeConfig finds and decodes the config file an edge container loads.
func (c *checker) edgeConfig(at string, w workload, ct corev1.Container) (edgeconfig.File, bool) {
	cfg := edgeconfig.Default()
	file, ok := flagValue(ct, "config")
	if !ok {
		return cfg, true // flags and environment only
	}
	var mount *corev1.VolumeMount
	for i, m := range ct.VolumeMounts {
		if m.MountPath == path.Dir(file) {
			mount = &ct.VolumeMounts[i]
		}
	}
	if mount == nil {
		c.errs = append(c.errs, fmt.Errorf("%s: config %s: no volume mounted at %s", at, file, path.Dir(file)))
		return cfg, false
	}
	if mount.SubPath != "" {
		c.errs = append(c.errs, fmt.Errorf("%s: config volume mounted with subPath: the edge would never see an update", at))
	}
	var cmName string
	for _, v := range w.template.Spec.Volumes {
		if v.Name == mount.Name && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm := c.configMap[cmName]
	if cm == nil {
		c.errs = append(c.errs, fmt.Errorf("%s: config volume %s is not a ConfigMap of this overlay", at, mount.Name))
		return cfg, false
	}
	data, ok := cm.Data[path.Base(file)]
	if !ok {
		c.errs = append(c.errs, fmt.Errorf("%s: ConfigMap %s has no key %s", at, cmName, path.Base(file)))
		return cfg, false
	}
	cfg, err := decodeEdgeConfig([]byte(data))
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: ConfigMap %s: %s: %v", at, cmName, path.Base(file), err))
		return cfg, false
	}
	return cfg, true
}

func (c *checker) checkEdge(at string, w workload, ct corev1.Container, cfg edgeconfig.File) {
	bad := func(format string, args ...any) {
		c.errs = append(c.errs, fmt.Errorf("%s: %s", at, fmt.Sprintf(format, args...)))
	}
	// Flags and variables beat the file.
	listen, admin := cfg.Listen, cfg.AdminListen
	if v, ok := flagValue(ct, "listen"); ok {
		listen = v
	}
	if v, ok := flagValue(ct, "admin-listen"); ok {
		admin = v
	}
	cache := int64(cfg.Proxy.Cache.MaxBytes)
	if v, ok := flagValue(ct, "cache-size"); ok {
		n, err := proxy.ParseByteSize(v)
		if err != nil {
			bad("cache size %q: %v", v, err)
		}
		cache = n
	}
	grace, timeout := cfg.ShutdownGrace, cfg.ShutdownTimeout
	for name, d := range map[string]*time.Duration{"shutdown-grace": &grace, "shutdown-timeout": &timeout} {
		if v, ok := flagValue(ct, name); ok {
			x, err := time.ParseDuration(v)
			if err != nil {
				bad("%s %q: %v", name, v, err)
			}
			*d = x
		}
	}

	// Ports: the container declares what the edge listens on.
	for name, addr := range map[string]string{"http": listen, "admin": admin} {
		_, p, err := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		if err != nil || containerPort(ct, intstr.FromString(name)) != int32(n) {
			bad("container port %q is not the edge's listen address %q", name, addr)
		}
	}
	// Probes: liveness /healthz, readiness /readyz, on the admin port.
	adminPort := containerPort(ct, intstr.FromString("admin"))
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"liveness", "/healthz", ct.LivenessProbe}, {"readiness", "/readyz", ct.ReadinessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || containerPort(ct, p.probe.HTTPGet.Port) != adminPort {
			bad("%s probe must GET %s on the admin port", p.name, p.path)
		}
	}
	// Memory follows the cache budget.
	rss := rssEstimate(cache)
	if req := ct.Resources.Requests[corev1.ResourceMemory]; req.Value() < rss {
		bad("memory request %s below the RSS of a %s cache (~%s)", req.String(), mib(cache), mib(rss))
	}
	if lim := ct.Resources.Limits[corev1.ResourceMemory]; lim.Value() < rss+limitHeadroom {
		bad("memory limit %s leaves under %s above the RSS of a %s cache (~%s)", lim.String(), mib(limitHeadroom), mib(cache), mib(rss))
	}
	c.checkDrain(at, w, ct, grace, timeout)
	// An HPA owns the replica count.
	if c.hpaFor(w) != nil && w.replicas != nil {
		bad("spec.replicas is set but an HPA scales this workload: every apply that changes it fights the HPA")
	}
	// Routes lead to a Service of this overlay and through it to a pod
	// port that listens.
	for _, r := range cfg.Proxy.Routes {
		if r.Origin != "" {
			c.checkOrigin(at, r.Prefix, r.Origin)
		}
		for _, o := range r.Origins {
			c.checkOrigin(at, r.Prefix, o.URL)
		}
	}
}

func mib(n int64) string { return fmt.Sprintf("%dMiB", n>>20) }

// checkOrigin resolves a route's origin URL to a Service of this overlay
// (name, name.namespace or name.namespace.svc...) and its port to a
// container port behind it.
func (c *checker) checkOrigin(at, prefix, origin string) {
	u, err := url.Parse(origin)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: route %s: %v", at, prefix, err))
		return
	}
	svcName, rest, _ := strings.Cut(u.Hostname(), ".")
	// A StatefulSet pod's own name, <set>-<ordinal>.<headless Service>:
	// the pod must exist (ordinal below replicas) behind that Service.
	if next, _, _ := strings.Cut(rest, "."); c.services[svcName] == nil && c.services[next] != nil {
		if !c.podExists(svcName, next) {
			c.errs = append(c.errs, fmt.Errorf("%s: route %s: origin %s names no pod of a StatefulSet governed by Service %s", at, prefix, origin, next))
			return
		}
		svcName = next
	}
	svc := c.services[svcName]
	if svc == nil {
		c.errs = append(c.errs, fmt.Errorf("%s: route %s: origin %s is not a Service of this overlay", at, prefix, origin))
		return
	}
	port := 80
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	for _, sp := range svc.Spec.Ports {
		if int(sp.Port) != port {
			continue
		}
		for _, w := range c.selected(labels.SelectorFromSet(svc.Spec.Selector)) {
			if podPort(&w.template.Spec, targetPort(sp)) != 0 {
				return
			}
		}
	}
	c.errs = append(c.errs, fmt.Errorf("%s: route %s: origin %s: Service %s has no port %d that reaches a pod", at, prefix, origin, svcName, port))
}

// podExists reports whether pod is <set>-<ordinal> of a StatefulSet whose
// serviceName is svc, with the ordinal below its replicas.
func (c *checker) podExists(pod, svc string) bool {
	for _, o := range c.objs {
		s, ok := o.Obj.(*appsv1.StatefulSet)
		if !ok || s.Spec.ServiceName != svc {
			continue
		}
		ord, ok := strings.CutPrefix(pod, s.Name+"-")
		n, err := strconv.Atoi(ord)
		if ok && err == nil && n >= 0 && s.Spec.Replicas != nil && int32(n) < *s.Spec.Replicas {
			return true
		}
	}
	return false
}

func targetPort(sp corev1.ServicePort) intstr.IntOrString {
	if sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal == "" || sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 {
		return intstr.FromInt32(sp.Port)
	}
	return sp.TargetPort
}

func (c *checker) checkStatefulSet(o object, s *appsv1.StatefulSet) {
	// The packager keeps its streams in RAM: exactly one. (A shield
	// StatefulSet runs edgecache and may have several.)
	edge := len(s.Spec.Template.Spec.Containers) > 0 && isEdgecache(s.Spec.Template.Spec.Containers[0])
	if !edge && (s.Spec.Replicas == nil || *s.Spec.Replicas != 1) {
		c.errorf(o, "replicas must be 1: streams live in one packager's RAM")
	}
	if svc := c.services[s.Spec.ServiceName]; svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		c.errorf(o, "serviceName %q is not a headless Service of this overlay", s.Spec.ServiceName)
	}
}

func (c *checker) checkService(o object, s *corev1.Service) {
	ws := c.selected(labels.SelectorFromSet(s.Spec.Selector))
	if len(ws) == 0 {
		c.errorf(o, "selector %v matches no workload's pods", s.Spec.Selector)
		return
	}
	for _, sp := range s.Spec.Ports {
		for _, w := range ws {
			if tp := targetPort(sp); podPort(&w.template.Spec, tp) == 0 {
				c.errorf(o, "port %s: targetPort %s is not a container port of %s", sp.Name, tp.String(), w.obj)
			}
		}
	}
}

func servicePortExists(s *corev1.Service, p networkingv1.ServiceBackendPort) bool {
	for _, sp := range s.Spec.Ports {
		if (p.Name != "" && sp.Name == p.Name) || (p.Name == "" && sp.Port == p.Number) {
			return true
		}
	}
	return false
}

// ciliumRequestTimeout is Cilium's per-Ingress Envoy route timeout
// (cilium PR #31693); without it Envoy's 15s default cuts long responses
// (cilium PR #31514).
const ciliumRequestTimeout = "ingress.cilium.io/request-timeout"

// minRouteTimeout is the shortest route timeout the edge tolerates when one
// is set: the origin fill timeout's default, the longest a response can
// take while its bytes still flow.
const minRouteTimeout = 5 * time.Minute

func (c *checker) checkIngress(o object, ing *networkingv1.Ingress) {
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "cilium" {
		c.errorf(o, "ingressClassName must be cilium")
	}
	if v, ok := ing.Annotations[ciliumRequestTimeout]; !ok {
		c.errorf(o, "no %s annotation: Envoy's 15s route timeout would cut slow segment downloads and held LL-HLS reloads", ciliumRequestTimeout)
	} else if d, err := time.ParseDuration(v); err != nil || (d != 0 && d < minRouteTimeout) {
		c.errorf(o, "%s %q: want \"0s\" (none) or at least %v", ciliumRequestTimeout, v, minRouteTimeout)
	}
	if len(ing.Spec.TLS) == 0 {
		c.errorf(o, "no TLS")
	}
	tlsHosts := map[string]bool{}
	for _, t := range ing.Spec.TLS {
		if t.SecretName == "" || len(t.Hosts) == 0 {
			c.errorf(o, "TLS entry needs hosts and a secretName")
		}
		for _, h := range t.Hosts {
			tlsHosts[h] = true
		}
	}
	for _, r := range ing.Spec.Rules {
		if r.Host == "" || !tlsHosts[r.Host] {
			c.errorf(o, "rule host %q is not covered by TLS", r.Host)
		}
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			b := p.Backend.Service
			if b == nil {
				c.errorf(o, "path %s has no service backend", p.Path)
				continue
			}
			if s := c.services[b.Name]; s == nil || !servicePortExists(s, b.Port) {
				c.errorf(o, "path %s: backend %s port %v is not a Service port of this overlay", p.Path, b.Name, b.Port)
			}
		}
	}
}

func (c *checker) checkHPA(o object, h *autoscalingv2.HorizontalPodAutoscaler) {
	var target *workload
	ref := h.Spec.ScaleTargetRef
	for i, w := range c.workloads {
		if ref.APIVersion == "apps/v1" && w.obj.Kind == ref.Kind && w.obj.Name == ref.Name {
			target = &c.workloads[i]
		}
	}
	if target == nil {
		c.errorf(o, "scaleTargetRef %s %s/%s is not a workload of this overlay", ref.APIVersion, ref.Kind, ref.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
		c.errorf(o, "want 1 <= minReplicas <= maxReplicas (%d)", h.Spec.MaxReplicas)
	}
	if len(h.Spec.Metrics) == 0 {
		c.errorf(o, "no metrics")
	}
	for i, m := range h.Spec.Metrics {
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			r := m.Resource
			if r == nil || r.Target.Type != autoscalingv2.UtilizationMetricType || r.Target.AverageUtilization == nil || *r.Target.AverageUtilization <= 0 {
				c.errorf(o, "metrics[%d]: want a resource with a positive averageUtilization", i)
				continue
			}
			// Utilization is relative to the request.
			if target != nil {
				for _, ct := range target.template.Spec.Containers {
					if _, ok := ct.Resources.Requests[r.Name]; !ok {
						c.errorf(o, "metrics[%d]: %s utilization, but container %s has no %s request", i, r.Name, ct.Name, r.Name)
					}
				}
			}
		case autoscalingv2.PodsMetricSourceType:
			p := m.Pods
			if p == nil || p.Metric.Name == "" || p.Target.Type != autoscalingv2.AverageValueMetricType || p.Target.AverageValue == nil || p.Target.AverageValue.Sign() <= 0 {
				c.errorf(o, "metrics[%d]: want a named pods metric with a positive averageValue", i)
			}
		default:
			c.errorf(o, "metrics[%d]: type %q: want Resource or Pods", i, m.Type)
		}
	}
}

func (c *checker) checkPDB(o object, p *policyv1.PodDisruptionBudget) {
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	if err != nil || len(c.selected(sel)) == 0 {
		c.errorf(o, "selector matches no workload's pods")
	}
	if (p.Spec.MaxUnavailable == nil) == (p.Spec.MinAvailable == nil) {
		c.errorf(o, "set exactly one of maxUnavailable and minAvailable")
	}
	if p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.Type == intstr.Int && p.Spec.MaxUnavailable.IntVal < 1 {
		c.errorf(o, "maxUnavailable < 1 blocks every voluntary eviction (node drains)")
	}
	if p.Spec.MinAvailable != nil && err == nil {
		for _, w := range c.selected(sel) {
			n := int32(1)
			if w.replicas != nil {
				n = *w.replicas
			}
			if h := c.hpaFor(w); h != nil && h.Spec.MinReplicas != nil {
				n = *h.Spec.MinReplicas
			}
			if p.Spec.MinAvailable.Type == intstr.Int && p.Spec.MinAvailable.IntVal >= n {
				c.errorf(o, "minAvailable %d >= %s's %d replicas blocks every voluntary eviction", p.Spec.MinAvailable.IntVal, w.obj, n)
			}
		}
	}
}

func (c *checker) checkServiceMonitor(o object, m *serviceMonitor) {
	sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
	if err != nil {
		c.errorf(o, "selector: %v", err)
		return
	}
	var matched []*corev1.Service
	for _, s := range c.services {
		if !sel.Empty() && sel.Matches(labels.Set(s.Labels)) {
			matched = append(matched, s)
		}
	}
	if len(matched) == 0 {
		c.errorf(o, "selector %s matches no Service", sel)
	}
	if len(m.Spec.Endpoints) == 0 {
		c.errorf(o, "no endpoints")
	}
	for _, e := range m.Spec.Endpoints {
		c.checkScrape(o, e)
		for _, s := range matched {
			if !servicePortExists(s, networkingv1.ServiceBackendPort{Name: e.Port}) {
				c.errorf(o, "endpoint port %q is not a port of Service %s", e.Port, s.Name)
			}
		}
	}
}

func (c *checker) checkPodMonitor(o object, m *podMonitor) {
	sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
	if err != nil {
		c.errorf(o, "selector: %v", err)
		return
	}
	ws := c.selected(sel)
	if len(ws) == 0 {
		c.errorf(o, "selector %s matches no workload's pods", sel)
	}
	if len(m.Spec.PodMetricsEndpoints) == 0 {
		c.errorf(o, "no podMetricsEndpoints")
	}
	for _, e := range m.Spec.PodMetricsEndpoints {
		c.checkScrape(o, e)
		for _, w := range ws {
			if podPort(&w.template.Spec, intstr.FromString(e.Port)) == 0 {
				c.errorf(o, "port %q is not a container port of %s", e.Port, w.obj)
			}
		}
	}
}

func (c *checker) checkScrape(o object, e scrapeEndpoint) {
	if e.Port == "" || e.Path != "/metrics" {
		c.errorf(o, "endpoint must name a port and scrape /metrics")
	}
	iv, err1 := time.ParseDuration(e.Interval)
	to, err2 := time.ParseDuration(e.ScrapeTimeout)
	if err := errors.Join(err1, err2); err != nil || to > iv {
		c.errorf(o, "want interval and scrapeTimeout <= interval: %v", err)
	}
}
