package watch

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"ricochet/internal/testbin"
)

// TestWaysOfWriting checks each way editors and operators replace a file.
func TestWaysOfWriting(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, dir, file string)
	}{
		{"in place", func(t *testing.T, dir, file string) {
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("two")
			f.Close()
		}},
		{"temp and rename", func(t *testing.T, dir, file string) {
			tmp := filepath.Join(dir, ".p.lua.swp")
			os.WriteFile(tmp, []byte("two"), 0o644)
			if err := os.Rename(tmp, file); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete and recreate", func(t *testing.T, dir, file string) {
			os.Remove(file)
			time.Sleep(50 * time.Millisecond)
			os.WriteFile(file, []byte("two"), 0o644)
		}},
		{"symlink swap", func(t *testing.T, dir, file string) {
			testbin.WriteConfigMap(t, dir, "p.lua", "two")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "p.lua")
			if tt.name == "symlink swap" {
				testbin.WriteConfigMap(t, dir, "p.lua", "one")
			} else {
				os.WriteFile(file, []byte("one"), 0o644)
			}
			var calls atomic.Int32
			changed := make(chan struct{}, 10)
			w, err := New(20*time.Millisecond, func() { calls.Add(1); changed <- struct{}{} }, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Set(file); err != nil {
				t.Fatal(err)
			}
			tt.write(t, dir, file)
			select {
			case <-changed:
			case <-time.After(2 * time.Second):
				t.Fatal("no change reported within 2s")
			}
			if b, _ := os.ReadFile(file); string(b) != "two" {
				t.Fatalf("file reads %q after the change", b)
			}
			time.Sleep(100 * time.Millisecond)
			if n := calls.Load(); n > 2 {
				t.Errorf("%d calls for one save, want the burst debounced", n)
			}
		})
	}
}

func TestOtherFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.lua")
	os.WriteFile(file, []byte("one"), 0o644)
	changed := make(chan struct{}, 10)
	w, err := New(10*time.Millisecond, func() { changed <- struct{}{} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Set(file)
	os.WriteFile(filepath.Join(dir, "other.lua"), []byte("x"), 0o644)
	select {
	case <-changed:
		t.Fatal("a change to another file was reported")
	case <-time.After(200 * time.Millisecond):
	}
}
