//go:build !linux

package k8s

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
