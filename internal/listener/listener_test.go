package listener

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestYieldingConnCarriesData checks reads, writes and ReadFrom (the
// sendfile path) through a wrapped connection.
func TestYieldingConnCarriesData(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	yl := Yielding(ln)
	defer yl.Close()
	file := filepath.Join(t.TempDir(), "f")
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i)
	}
	os.WriteFile(file, want, 0o644)
	go func() {
		c, err := yl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			return
		}
		c.Write([]byte("ok"))
		f, _ := os.Open(file)
		defer f.Close()
		c.(io.ReaderFrom).ReadFrom(f)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[:2]) != "ok" || len(got) != 2+len(want) || string(got[2:]) != string(want) {
		t.Fatalf("got %d bytes, want ok + %d", len(got), len(want))
	}
}
