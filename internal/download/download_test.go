package download

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://h/", "index.html"},
		{"http://h", "index.html"},
		{"http://h/a/b.txt", "b.txt"},
		{"http://h/a/b.txt?x=../y", "b.txt"},
		{"http://h/dir/", "index.html"},
		{"http://h/..", "index.html"},
		{"http://h/%2e%2e", "index.html"},
		{"http://h/...", "index.html"},
		{"http://h/%2fetc%2fpasswd", "_etc_passwd"},
		{"http://h/a%5Cb", "a_b"},
		{"http://h/a%00b", "a_b"},
		{"http://h/space%20name", "space name"},
		{"http://h/.hidden", ".hidden"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := FileName(u); got != tt.want {
			t.Errorf("FileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzFileName checks that no URL path yields a name outside the current
// directory.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/..", "/%2e%2e%2f", "/a%2f..%2f..", "/\\..\\", "/%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.Parse("http://h" + p)
		if err != nil || !strings.HasPrefix(p, "/") {
			return
		}
		name := FileName(u)
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
			t.Fatalf("FileName(%q) = %q", p, name)
		}
		if filepath.Base(name) != name || !filepath.IsLocal(name) {
			t.Fatalf("FileName(%q) = %q is not a local base name", p, name)
		}
	})
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		s, tot, ok := parseContentRange(tt.in)
		if s != tt.start || tot != tt.total || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d %d %v", tt.in, s, tot, ok)
		}
	}
}
