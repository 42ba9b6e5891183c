package k8s

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// brokenCopy is a deliberately broken copy of an overlay: one object
// edited. The static checks must reject every one (wantCheck); the API
// server must reject (wantServer) or warn about (wantWarning) those it can
// know to be wrong. Some mistakes only the static checks can see, because
// the API server knows nothing of edgecache: those have neither.
type brokenCopy struct {
	name        string
	overlay     string
	kind, obj   string               // the object to edit
	edit        func(map[string]any) // edits its decoded document
	wantCheck   string
	wantServer  string
	wantWarning string
}

var brokenCopies = []brokenCopy{
	{
		name: "srt port declared as tcp", overlay: "production",
		kind: "StatefulSet", obj: "packager",
		edit:      set("spec.template.spec.containers.0.ports.2.protocol", "TCP"),
		wantCheck: `-srt-listen ":8890" has no UDP container port named srt`,
	},
	{
		name: "deployment selector does not match template labels", overlay: "dev",
		kind: "Deployment", obj: "edgecache",
		edit:       set("spec.template.metadata.labels.app\\.kubernetes\\.io/component", "edge-typo"),
		wantCheck:  "does not match template labels",
		wantServer: "`selector` does not match template `labels`",
	},
	{
		name: "hpa metric of unknown type", overlay: "production",
		kind: "HorizontalPodAutoscaler", obj: "edgecache",
		edit:       set("spec.metrics.0.type", "Requests"),
		wantCheck:  `type "Requests"`,
		wantServer: `spec.metrics[0].type: Unsupported value: "Requests"`,
	},
	{
		name: "hpa cpu target of zero", overlay: "production",
		kind: "HorizontalPodAutoscaler", obj: "edgecache",
		edit:       set("spec.metrics.0.resource.target.averageUtilization", 0),
		wantCheck:  "positive averageUtilization",
		wantServer: "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
	},
	{
		name: "hpa pods metric without a target value", overlay: "custom-metrics",
		kind: "HorizontalPodAutoscaler", obj: "edgecache",
		edit:       del("spec.metrics.1.pods.target.averageValue"),
		wantCheck:  "positive averageValue",
		wantServer: "spec.metrics[1].pods.target.averageValue: Required value: must specify a positive target averageValue",
	},
	{
		name: "misspelt field", overlay: "production",
		kind: "Deployment", obj: "edgecache",
		edit:       rename("spec.template.spec.containers.0.resources", "resource"),
		wantCheck:  `unknown field "spec.template.spec.containers[0].resource"`,
		wantServer: `unknown field "spec.template.spec.containers[0].resource"`,
	},
	{
		name: "misspelt field in a ServiceMonitor", overlay: "monitoring",
		kind: "ServiceMonitor", obj: "edgecache",
		edit:       rename("spec.endpoints.0.interval", "intervall"),
		wantCheck:  `unknown field "spec.endpoints[0].intervall"`,
		wantServer: `unknown field "spec.endpoints[0].intervall"`,
	},
	{
		name: "privilege escalation allowed", overlay: "dev",
		kind: "Deployment", obj: "edgecache",
		edit:        set("spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation", true),
		wantCheck:   "allowPrivilegeEscalation is not false",
		wantWarning: `would violate PodSecurity "restricted:v1.32": allowPrivilegeEscalation != false`,
	},
	{
		name: "memory limit below the request", overlay: "production",
		kind: "Deployment", obj: "edgecache",
		edit:       set("spec.template.spec.containers.0.resources.limits.memory", "2Gi"),
		wantCheck:  "memory limit 2Gi below request 2560Mi",
		wantServer: `resources.requests: Invalid value: "2560Mi": must be less than or equal to memory limit of 2Gi`,
	},
	{
		name: "memory below the cache", overlay: "production",
		kind: "Deployment", obj: "edgecache",
		edit: all(
			set("spec.template.spec.containers.0.resources.requests.memory", "2Gi"),
			set("spec.template.spec.containers.0.resources.limits.memory", "2Gi"),
		),
		wantCheck: "memory request 2Gi below the RSS of a 2048MiB cache",
	},
	{
		name: "grace period shorter than the drain", overlay: "production",
		kind: "Deployment", obj: "edgecache",
		edit:      set("spec.template.spec.terminationGracePeriodSeconds", 30),
		wantCheck: "terminationGracePeriodSeconds 30s < preStop 0s + shutdown_grace 10s + shutdown_timeout 20s",
	},
	{
		name: "preStop sleep counted twice", overlay: "production",
		kind: "Deployment", obj: "edgecache",
		edit:      set("spec.template.spec.containers.0.lifecycle", map[string]any{"preStop": map[string]any{"sleep": map[string]any{"seconds": 10}}}),
		wantCheck: "terminationGracePeriodSeconds 40s < preStop 10s",
	},
	{
		name: "packager killed mid-drain", overlay: "dev",
		kind: "StatefulSet", obj: "packager",
		edit:      set("spec.template.spec.containers.0.env", []any{map[string]any{"name": "PACKAGER_SHUTDOWN_TIMEOUT", "value": "30s"}}),
		wantCheck: "terminationGracePeriodSeconds 20s < preStop 0s + shutdown_grace 5s + shutdown_timeout 30s",
	},
	{
		name: "probe on an undeclared port", overlay: "dev",
		kind: "Deployment", obj: "edgecache",
		edit:      set("spec.template.spec.containers.0.readinessProbe.httpGet.port", "metrics"),
		wantCheck: "readiness probe port metrics is not a declared container port",
	},
	{
		name: "ingress not on cilium", overlay: "production",
		kind: "Ingress", obj: "edgecache",
		edit:      set("spec.ingressClassName", "nginx"),
		wantCheck: "ingressClassName must be cilium",
	},
	{
		name: "ingress with envoy's 15s route timeout", overlay: "shield",
		kind: "Ingress", obj: "edgecache",
		edit:      del(`metadata.annotations.ingress\.cilium\.io/request-timeout`),
		wantCheck: "no ingress.cilium.io/request-timeout annotation",
	},
	{
		name: "ingress route timeout shorter than a fill", overlay: "production",
		kind: "Ingress", obj: "edgecache",
		edit:      set(`metadata.annotations.ingress\.cilium\.io/request-timeout`, "15s"),
		wantCheck: `ingress.cilium.io/request-timeout "15s"`,
	},
	{
		name: "ingress without tls", overlay: "production",
		kind: "Ingress", obj: "edgecache",
		edit:      del("spec.tls"),
		wantCheck: "no TLS",
	},
	{
		name: "typo in the edge config", overlay: "production",
		kind: "ConfigMap", obj: "edgecache-config",
		edit:      replaceData("edgecache.yaml", "max_bytes:", "max_byte:"),
		wantCheck: "unknown field \"max_byte\" in cache",
	},
	{
		name: "route to a port the packager does not serve", overlay: "dev",
		kind: "ConfigMap", obj: "edgecache-config",
		edit:      replaceData("edgecache.yaml", "http://packager:8088/hls/", "http://packager:8080/hls/"),
		wantCheck: "Service packager has no port 8080",
	},
	{
		name: "shield and edge share a Via name", overlay: "shield",
		kind: "ConfigMap", obj: "edgecache-shield-config",
		edit:      replaceData("edgecache.yaml", "server_name: edgecache-shield", "server_name: edgecache-edge"),
		wantCheck: `server_name "edgecache-edge" is also`,
	},
	{
		name: "edge origin names a shield pod that does not exist", overlay: "fleet",
		kind: "ConfigMap", obj: "edgecache-config",
		edit:      replaceData("edgecache.yaml", "edgecache-shield-1.edgecache-shield", "edgecache-shield-2.edgecache-shield"),
		wantCheck: "names no pod of a StatefulSet governed by Service edgecache-shield",
	},
	{
		name: "shield fails over to a packager Service that does not exist", overlay: "fleet",
		kind: "ConfigMap", obj: "edgecache-shield-config",
		edit:      replaceData("edgecache.yaml", "packager-b-0.packager-b:8088/hls/", "packager-c-0.packager-c:8088/hls/"),
		wantCheck: "origin http://packager-c-0.packager-c:8088/hls/ is not a Service of this overlay",
	},
	{
		name: "two packagers", overlay: "production",
		kind: "StatefulSet", obj: "packager",
		edit:      set("spec.replicas", 2),
		wantCheck: "replicas must be 1",
	},
	{
		name: "host network without cluster dns", overlay: "rtsp-hostnetwork",
		kind: "StatefulSet", obj: "packager",
		edit:      set("spec.template.spec.dnsPolicy", "ClusterFirst"),
		wantCheck: "want ClusterFirstWithHostNet",
	},
	{
		name: "host network replicas may share a node", overlay: "rtsp-hostnetwork",
		kind: "StatefulSet", obj: "packager",
		edit:      set("spec.template.spec.affinity", map[string]any{}),
		wantCheck: "fight over its ports",
	},
	{
		name: "host network port without its hostPort", overlay: "rtsp-hostnetwork",
		kind: "StatefulSet", obj: "packager",
		edit:      setPort(8000, "hostPort", 18000),
		wantCheck: "port rtp: hostPort 18000, want 8000",
	},
	{
		name: "rtp pair not declared", overlay: "rtsp-hostnetwork",
		kind: "StatefulSet", obj: "packager",
		edit:      setPort(8000, "protocol", "TCP"),
		wantCheck: "UDP port 8000 (the RTSP server's RTP/RTCP pair) is not a declared container port",
	},
	{
		name: "replicas fighting the hpa", overlay: "production",
		kind: "Deployment", obj: "edgecache",
		edit:      set("spec.replicas", 3),
		wantCheck: "spec.replicas is set but an HPA scales this workload",
	},
}

// build renders the overlay and applies the edit, returning the stream.
func (bc brokenCopy) build(t testing.TB) []byte {
	t.Helper()
	stream, err := render("overlays/" + bc.overlay)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocs(stream)
	if err != nil {
		t.Fatal(err)
	}
	edited := false
	for i, d := range docs {
		var m map[string]any
		if err := yaml.Unmarshal(d, &m); err != nil {
			t.Fatal(err)
		}
		meta, _ := m["metadata"].(map[string]any)
		if m["kind"] != bc.kind || meta["name"] != bc.obj {
			continue
		}
		bc.edit(m)
		if docs[i], err = yaml.Marshal(m); err != nil {
			t.Fatal(err)
		}
		edited = true
	}
	if !edited {
		t.Fatalf("overlay %s has no %s %s to break", bc.overlay, bc.kind, bc.obj)
	}
	return joinDocs(docs)
}

// splitPath splits a dotted path; "\." escapes a dot inside a key.
func splitPath(p string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			cur.WriteByte(p[i])
		case p[i] == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(p[i])
		}
	}
	return append(parts, cur.String())
}

// walk returns the container (map or slice) holding the path's last key,
// creating maps on the way.
func walk(m map[string]any, parts []string) any {
	var cur any = m
	for _, k := range parts[:len(parts)-1] {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[k]
			if !ok {
				next = map[string]any{}
				c[k] = next
			}
			cur = next
		case []any:
			i, _ := strconv.Atoi(k)
			cur = c[i]
		}
	}
	return cur
}

func set(p string, v any) func(map[string]any) {
	return func(m map[string]any) {
		parts := splitPath(p)
		switch c := walk(m, parts).(type) {
		case map[string]any:
			c[parts[len(parts)-1]] = v
		case []any:
			i, _ := strconv.Atoi(parts[len(parts)-1])
			c[i] = v
		}
	}
}

func all(edits ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, e := range edits {
			e(m)
		}
	}
}

func del(p string) func(map[string]any) {
	return func(m map[string]any) {
		parts := splitPath(p)
		delete(walk(m, parts).(map[string]any), parts[len(parts)-1])
	}
}

func rename(p, to string) func(map[string]any) {
	return func(m map[string]any) {
		parts := splitPath(p)
		c := walk(m, parts).(map[string]any)
		c[to] = c[parts[len(parts)-1]]
		delete(c, parts[len(parts)-1])
	}
}

// setPort sets key of the packager container's port numbered port.
func setPort(port int, key string, v any) func(map[string]any) {
	return func(m map[string]any) {
		ct := walk(m, splitPath("spec.template.spec.containers.0.x")).(map[string]any)
		for _, p := range ct["ports"].([]any) {
			pm := p.(map[string]any)
			if fmt.Sprint(pm["containerPort"]) == fmt.Sprint(port) {
				pm[key] = v
				return
			}
		}
		panic(fmt.Sprintf("setPort: no port %d", port))
	}
}

func replaceData(key, old, new string) func(map[string]any) {
	return func(m map[string]any) {
		data := m["data"].(map[string]any)
		s := data[key].(string)
		if !strings.Contains(s, old) {
			panic("replaceData: " + key + " has no " + old)
		}
		data[key] = strings.ReplaceAll(s, old, new)
	}
}
