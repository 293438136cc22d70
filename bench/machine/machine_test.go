package machine

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProcField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cpuinfo")
	data := "processor\t: 0\nmodel name\t: Test CPU @ 2.0GHz\nflags\t\t: fpu\nmodel name\t: second\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := procField(p, "model name"); got != "Test CPU @ 2.0GHz" {
		t.Errorf("model name = %q", got)
	}
	if got := procField(p, "missing"); got != "" {
		t.Errorf("missing = %q, want empty", got)
	}
}

func TestRead(t *testing.T) {
	i := Read()
	if i.Cores < 1 || i.MemGiB <= 0 || i.Kernel == "" {
		t.Errorf("Read() = %+v: cores, memory and kernel must be read from /proc", i)
	}
}
