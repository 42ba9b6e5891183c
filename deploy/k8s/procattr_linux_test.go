package k8s

import "syscall"

// childProcAttr kills etcd and kube-apiserver if the test binary dies
// without running its cleanups (a panic, a timeout).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
