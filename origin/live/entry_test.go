package live

import (
	"testing"
	"time"
)

// The hit path of the in-RAM store allocates nothing.
func TestFileSetGetAllocs(t *testing.T) {
	f := newFileSet()
	f.apply(map[string]*Entry{"a/video/1.m4s": newEntry([]byte("x"), mimeVideoMP4, classImmutable, "e", time.Now())}, nil)
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := f.get("a/video/1.m4s"); !ok {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Errorf("get allocates %v times", n)
	}
}
