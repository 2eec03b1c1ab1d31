// Package config reads balancer.toml: the listen addresses, the policy, the
// probe settings and the backends. Loading is strict: unknown keys, bad
// durations, bad URLs and duplicate names are errors that name their line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultPolicy is the policy used when neither the file nor a flag names one.
const DefaultPolicy = "policies/weighted-fastest.lua"

// Config is one complete, validated balancer configuration. It is never
// modified after Load returns it, so it may be shared between goroutines.
type Config struct {
	Listen         string    `toml:"listen"`
	Admin          string    `toml:"admin"`
	Policy         string    `toml:"policy"`
	RedirectStatus int       `toml:"redirect_status"`
	Pages          string    `toml:"pages"`
	Probe          Probe     `toml:"probe"`
	Backends       []Backend `toml:"backends"`

	// Path is the file the configuration came from, "" for none.
	Path string `toml:"-"`
	// Raw is the file's content, used to tell a real change from a touch.
	Raw []byte `toml:"-"`
}

// Probe configures the performance test of every backend.
type Probe struct {
	Path     string   `toml:"path"`
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	Fall     int      `toml:"fall"`
	Rise     int      `toml:"rise"`
}

// Backend is one server the balancer may redirect to.
type Backend struct {
	Name string            `toml:"name"`
	URL  URL               `toml:"url"`
	Meta map[string]string `toml:"meta"`
}

// Duration is a time.Duration written as a Go duration string ("5s").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"500ms\", \"5s\")", b)
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// URL is a backend's base URL, normalised to "http://host:port" plus an
// optional path prefix without a trailing slash.
type URL string

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *URL) UnmarshalText(b []byte) error {
	v, err := ParseBackendURL(string(b))
	if err != nil {
		return err
	}
	*u = URL(v)
	return nil
}

// ParseBackendURL validates a backend address, "http://host:port[/prefix]",
// "https://..." or the seed's bare "host:port", and returns it normalised.
func ParseBackendURL(s string) (string, error) {
	raw := strings.TrimSpace(s)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid backend URL %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("invalid backend URL %q: scheme must be http or https", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("invalid backend URL %q: no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("invalid backend URL %q: only scheme, host, port and path are allowed", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("invalid backend URL %q: bad port", s)
		}
	}
	if strings.ContainsAny(u.Host, " \t\r\n\"<>\\") {
		return "", fmt.Errorf("invalid backend URL %q: bad host", s)
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	return &Config{
		Listen:         ":8080",
		Admin:          "127.0.0.1:9090",
		Policy:         DefaultPolicy,
		RedirectStatus: 301,
		Probe: Probe{
			Path:     "/performanceTest.html",
			Interval: Duration{5 * time.Second},
			Timeout:  Duration{2 * time.Second},
			Fall:     1,
			Rise:     1,
		},
	}
}

// Load reads and validates the file at path. Relative policy and pages paths
// are resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	dir := filepath.Dir(path)
	if c.Policy != "" && !filepath.IsAbs(c.Policy) {
		c.Policy = filepath.Join(dir, c.Policy)
	}
	if c.Pages != "" && !filepath.IsAbs(c.Pages) {
		c.Pages = filepath.Join(dir, c.Pages)
	}
	return c, nil
}

// Parse decodes and validates TOML data on top of the defaults.
func Parse(data []byte) (*Config, error) {
	c := Default()
	c.Raw = data
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return nil, fmt.Errorf("line %d: unknown key %q", lineOfKey(data, k[len(k)-1]), k.String())
	}
	if err := c.validate(data); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks what the decoder cannot: ranges, required fields and
// duplicate names. data is the source, to find lines for the messages.
func (c *Config) validate(data []byte) error {
	switch c.RedirectStatus {
	case 301, 302, 303, 307, 308:
	default:
		return fmt.Errorf("line %d: redirect_status %d: want 301, 302, 303, 307 or 308",
			lineOfKey(data, "redirect_status"), c.RedirectStatus)
	}
	if c.Listen == "" {
		return fmt.Errorf("line %d: listen must not be empty", lineOfKey(data, "listen"))
	}
	if !strings.HasPrefix(c.Probe.Path, "/") {
		return fmt.Errorf("line %d: probe path %q must start with /", lineOfKey(data, "path"), c.Probe.Path)
	}
	if c.Probe.Fall < 1 {
		return fmt.Errorf("line %d: probe fall must be at least 1", lineOfKey(data, "fall"))
	}
	if c.Probe.Rise < 1 {
		return fmt.Errorf("line %d: probe rise must be at least 1", lineOfKey(data, "rise"))
	}
	seen := make(map[string]bool)
	for i := range c.Backends {
		b := &c.Backends[i]
		if b.URL == "" {
			return fmt.Errorf("line %d: backend %d has no url", lineOfNth(data, "[[backends]]", i), i+1)
		}
		if b.Name == "" {
			b.Name = NameFor(string(b.URL))
		}
		if seen[b.Name] {
			return fmt.Errorf("line %d: duplicate backend name %q", lineOfValue(data, "name", b.Name, 2), b.Name)
		}
		seen[b.Name] = true
	}
	return nil
}

// NameFor derives a backend name from its URL: its host:port.
func NameFor(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// WithBackends returns a copy of c whose backends are c's plus the seed-style
// "host:port" arguments, checked like the file's.
func (c *Config) WithBackends(args []string) (*Config, error) {
	n := *c
	n.Backends = append([]Backend(nil), c.Backends...)
	seen := make(map[string]bool)
	for _, b := range n.Backends {
		seen[b.Name] = true
	}
	for _, a := range args {
		u, err := ParseBackendURL(a)
		if err != nil {
			return nil, err
		}
		name := NameFor(u)
		if seen[name] {
			return nil, fmt.Errorf("duplicate backend %q", a)
		}
		seen[name] = true
		n.Backends = append(n.Backends, Backend{Name: name, URL: URL(u)})
	}
	return &n, nil
}

// SelfLoop reports the first backend whose URL points at the balancer's own
// listen address (it would redirect clients to itself forever).
func (c *Config) SelfLoop(listen net.Addr) (Backend, bool) {
	tcp, ok := listen.(*net.TCPAddr)
	if !ok {
		return Backend{}, false
	}
	for _, b := range c.Backends {
		u, err := url.Parse(string(b.URL))
		if err != nil {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		if port != strconv.Itoa(tcp.Port) {
			continue
		}
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified() || ip.Equal(tcp.IP))) {
			return b, true
		}
	}
	return Backend{}, false
}

// lineOfKey returns the line of the first "key =" in data, or 0.
func lineOfKey(data []byte, key string) int {
	re := regexp.MustCompile(`(?m)(^|[{,])\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	if loc := re.FindIndex(data); loc != nil {
		return 1 + bytes.Count(data[:loc[0]], []byte("\n"))
	}
	return 0
}

// lineOfValue returns the line of the nth `key = "value"` in data, or 0.
func lineOfValue(data []byte, key, value string, nth int) int {
	re := regexp.MustCompile(`(?m)(^|[{,])\s*` + regexp.QuoteMeta(key) + `\s*=\s*["']` + regexp.QuoteMeta(value) + `["']`)
	locs := re.FindAllIndex(data, nth)
	if len(locs) < nth {
		return lineOfKey(data, key)
	}
	return 1 + bytes.Count(data[:locs[nth-1][0]], []byte("\n"))
}

// lineOfNth returns the line of the (i+1)th occurrence of s, or 0.
func lineOfNth(data []byte, s string, i int) int {
	off := 0
	for ; i >= 0; i-- {
		j := bytes.Index(data[off:], []byte(s))
		if j < 0 {
			return 0
		}
		off += j + len(s)
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
