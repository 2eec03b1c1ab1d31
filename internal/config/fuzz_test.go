package config

import (
	"strings"
	"testing"
)

// FuzzParse checks that any input either loads into a valid configuration
// or fails with an error, never a panic, and that what loads is valid.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(""))
	f.Add([]byte("[[backends]]\nurl = \"h:1\"\n[[backends]]\nurl = \"h:1\"\n"))
	f.Add([]byte("[probe]\ninterval = \"-1s\"\n"))
	f.Add([]byte("redirect_status = 302\nlisten = \"\"\n"))
	f.Add([]byte("[[backends]]\nname = \"a\"\nurl = \"http://[::1]:80/x\"\nmeta = { k = \"v\" }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.Contains(err.Error(), "toml") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		switch c.RedirectStatus {
		case 301, 302, 303, 307, 308:
		default:
			t.Fatalf("accepted redirect_status %d", c.RedirectStatus)
		}
		if c.Probe.Interval.Duration <= 0 || c.Probe.Timeout.Duration <= 0 || c.Probe.Fall < 1 || c.Probe.Rise < 1 {
			t.Fatalf("accepted probe %+v", c.Probe)
		}
		seen := map[string]bool{}
		for _, b := range c.Backends {
			if b.Name == "" || seen[b.Name] {
				t.Fatalf("accepted backend name %q", b.Name)
			}
			seen[b.Name] = true
			if u, err := ParseBackendURL(string(b.URL)); err != nil || u != string(b.URL) {
				t.Fatalf("accepted url %q (%v)", b.URL, err)
			}
		}
	})
}
