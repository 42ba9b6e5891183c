// Package k8s holds edgecache's Kubernetes deployment: a kustomize base,
// overlays (dev, production, shield, custom-metrics, monitoring) and the
// monitoring component. It has no Go code of its own, only tests that
// prove the manifests valid:
//
//   - manifests_test.go renders every overlay with the kustomize library,
//     decodes each document strictly into the Kubernetes API types and runs
//     semantic checks (selectors, ports, probes, memory against the cache
//     size, drain timing, security context, ingress, autoscaling).
//   - server_dryrun_test.go starts etcd and a real kube-apiserver on loopback and
//     runs `kubectl apply --dry-run=server` on every overlay, and on broken
//     copies that must be rejected.
//
// See README.md for how to deploy.
package k8s
