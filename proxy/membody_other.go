//go:build !linux

package proxy

import (
	"os"

	"github.com/edgecache/edgecache/cache"
)

// memBodies is Linux's (memfd, sendfile); elsewhere bodies go out with
// write(2).
type memBodies struct{}

func newMemBodies(int64) *memBodies { return nil }

func (*memBodies) open(*cache.Entry, cache.ByteView) *os.File { return nil }

func (*memBodies) held() int64 { return 0 }
