package static

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		raw, want string
		status    int
	}{
		{"/", ".", 0},
		{"/a/b.txt", "a/b.txt", 0},
		{"//a///b", "a/b", 0},
		{"/./a/./b", "a/b", 0},
		{"/%61", "a", 0},
		{"/a%2fb", "a/b", 0},
		{"/a%20b", "a b", 0},
		{"", "", 400},
		{"a", "", 400},
		{"/..", "", 400},
		{"/a/../b", "", 400},
		{"/%2e%2e/x", "", 400},
		{"/..%2fx", "", 400},
		{"/a%5cb", "", 400},
		{"/a\\b", "", 400},
		{"/a%00", "", 400},
		{"/a%0a", "", 400},
		{"/%", "", 400},
		{"/%g0", "", 400},
		{"/.git/config", "", 404},
		{"/a/.env", "", 404},
		{"/" + strings.Repeat("x", 256), "", 404},
		{"/" + strings.Repeat("x/", 2100), "", 414},
	}
	for _, tt := range tests {
		got, status := Resolve([]byte(tt.raw))
		if got != tt.want || status != tt.status {
			t.Errorf("Resolve(%q) = %q, %d; want %q, %d", tt.raw, got, status, tt.want, tt.status)
		}
	}
}

// FuzzResolve checks that no request path resolves outside the root.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/..", "/%2e%2e/", "/a%2f..%2f..", "/\\..\\", "/%00", "//x", "/.%2e"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rel, status := Resolve(raw)
		if status != 0 {
			if rel != "" {
				t.Fatalf("Resolve(%q) = %q with status %d", raw, rel, status)
			}
			return
		}
		if rel == "." {
			return
		}
		if !filepath.IsLocal(rel) || strings.ContainsAny(rel, "\\\x00") || strings.HasPrefix(rel, "/") {
			t.Fatalf("Resolve(%q) = %q leaves the root", raw, rel)
		}
		for _, seg := range strings.Split(rel, "/") {
			if seg == "" || seg[0] == '.' {
				t.Fatalf("Resolve(%q) = %q has segment %q", raw, rel, seg)
			}
		}
	})
}
