package config

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `listen = ":8080"
admin = "127.0.0.1:9090"
policy = "policies/weighted-fastest.lua"
redirect_status = 302
pages = ""

[probe]
path = "/performanceTest.html"
interval = "1s"
timeout = "500ms"
fall = 2
rise = 3

[[backends]]
name = "alpha"
url = "http://127.0.0.1:8001"
meta = { region = "eu" }

[[backends]]
url = "127.0.0.1:8002"
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.RedirectStatus != 302 || c.Probe.Interval.Duration != time.Second || c.Probe.Timeout.Duration != 500*time.Millisecond ||
		c.Probe.Fall != 2 || c.Probe.Rise != 3 {
		t.Errorf("got %+v", c)
	}
	if len(c.Backends) != 2 || c.Backends[0].Name != "alpha" || c.Backends[0].Meta["region"] != "eu" {
		t.Fatalf("backends %+v", c.Backends)
	}
	if b := c.Backends[1]; b.Name != "127.0.0.1:8002" || b.URL != "http://127.0.0.1:8002" {
		t.Errorf("second backend %+v, want name and url from host:port", b)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(""))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Listen != d.Listen || c.Admin != d.Admin || c.RedirectStatus != 301 || c.Probe.Interval.Duration != 5*time.Second ||
		c.Probe.Timeout.Duration != 2*time.Second || c.Policy != DefaultPolicy {
		t.Errorf("defaults %+v", c)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"unknown top key", "listen = \":1\"\nlisen = \":2\"\n", `line 2: unknown key "lisen"`},
		{"unknown backend key", "[[backends]]\nname = \"a\"\nurl = \"h:1\"\nwieght = 3\n", `line 4: unknown key "backends.wieght"`},
		{"unknown probe key", "[probe]\nintervall = \"1s\"\n", `line 2: unknown key "probe.intervall"`},
		{"bad duration", "[probe]\ninterval = \"5 seconds\"\n", "line 2"},
		{"negative duration", "[probe]\n\ntimeout = \"-1s\"\n", "line 3"},
		{"bad url", "[[backends]]\nname = \"a\"\nurl = \"ftp://x:1\"\n", "line 3"},
		{"bad port", "[[backends]]\nurl = \"127.0.0.1:99999\"\n", "line 2"},
		{"no host", "[[backends]]\nurl = \"http://:80\"\n", "line 2"},
		{"duplicate names", "[[backends]]\nname = \"a\"\nurl = \"h:1\"\n[[backends]]\nname = \"a\"\nurl = \"h:2\"\n", `line 5: duplicate backend name "a"`},
		{"duplicate derived names", "[[backends]]\nurl = \"h:1\"\n[[backends]]\nurl = \"http://h:1\"\n", `duplicate backend name "h:1"`},
		{"missing url", "[[backends]]\nname = \"a\"\n", "line 1: backend 1 has no url"},
		{"bad status", "redirect_status = 200\n", "line 1: redirect_status 200"},
		{"bad fall", "[probe]\nfall = 0\n", "line 2: probe fall"},
		{"bad probe path", "[probe]\npath = \"x\"\n", "line 2: probe path"},
		{"syntax", "listen = \n", "line 1"},
		{"wrong type", "redirect_status = \"301\"\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseBackendURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:8001", "http://127.0.0.1:8001"},
		{"http://127.0.0.1:8001/", "http://127.0.0.1:8001"},
		{"https://example.test", "https://example.test"},
		{"http://h:1/app/", "http://h:1/app"},
		{"[::1]:8080", "http://[::1]:8080"},
		{"localhost:80", "http://localhost:80"},
	}
	for _, tt := range tests {
		got, err := ParseBackendURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseBackendURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "ftp://h:1", "http://", "http://u:p@h:1", "http://h:1/?q=1", "http://h:1/#f", "h:0", "h:x"} {
		if got, err := ParseBackendURL(bad); err == nil {
			t.Errorf("ParseBackendURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestLoadResolvesPathsAgainstTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "b.toml")
	os.WriteFile(p, []byte("policy = \"p/x.lua\"\npages = \"pages\"\n"), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy != filepath.Join(dir, "p/x.lua") || c.Pages != filepath.Join(dir, "pages") {
		t.Errorf("policy %q pages %q", c.Policy, c.Pages)
	}
}

func TestWithBackendsAndSelfLoop(t *testing.T) {
	c, err := Default().WithBackends([]string{"127.0.0.1:8001", "localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Backends) != 2 || len(Default().Backends) != 0 {
		t.Fatalf("backends %+v", c.Backends)
	}
	if _, err := c.WithBackends([]string{"127.0.0.1:8001"}); err == nil {
		t.Error("duplicate positional backend accepted")
	}
	b, loop := c.SelfLoop(&net.TCPAddr{IP: net.IPv4zero, Port: 8080})
	if !loop || b.Name != "localhost:8080" {
		t.Errorf("SelfLoop = %v %v, want localhost:8080", b, loop)
	}
	if _, loop := c.SelfLoop(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9999}); loop {
		t.Error("SelfLoop on another port")
	}
}
