package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ricochet/internal/testbin"
)

var balancerBin, serverBin string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{"balancer": &balancerBin, "server": &serverBin})
}

// backend starts a real server; extra args such as -rate shape its speed.
func backend(t *testing.T, args ...string) *testbin.Proc {
	t.Helper()
	return testbin.Start(t, "", serverBin, append([]string{"-addr", "127.0.0.1:0", "-root", t.TempDir()}, args...)...)
}

type lb struct {
	*testbin.Proc
	admin string // http://host:port
	dir   string
}

// writeConfig writes dir/balancer.toml with fast probes and the backends.
func writeConfig(t testing.TB, dir, policy string, extra string, backends map[string]string, order ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\npolicy = %q\n%s\n", policy, extra)
	fmt.Fprintf(&b, "[probe]\ninterval = \"150ms\"\ntimeout = \"1s\"\nfall = 1\nrise = 1\n")
	for _, name := range order {
		fmt.Fprintf(&b, "\n[[backends]]\nname = %q\nurl = %q\n", name, backends[name])
	}
	p := filepath.Join(dir, "balancer.toml")
	writeAtomic(t, p, b.String())
	return p
}

func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func defaultPolicy(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "policies", "weighted-fastest.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startLB(t *testing.T, dir string, args ...string) *lb {
	t.Helper()
	p := testbin.Start(t, dir, balancerBin, args...)
	l := &lb{Proc: p, dir: dir}
	line, err := p.Line(5 * time.Second)
	if err == nil {
		if a, ok := strings.CutPrefix(line, "admin on "); ok {
			l.admin = a
		} else {
			t.Fatalf("second line %q, want \"admin on ...\"", line)
		}
	}
	return l
}

var noFollow = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
	Timeout:       5 * time.Second,
}

func (l *lb) status(t *testing.T) statusJSON {
	t.Helper()
	resp, err := http.Get(l.admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s statusJSON
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

type statusJSON struct {
	Policy struct {
		Path     string    `json:"path"`
		LoadedAt time.Time `json:"loaded_at"`
		Error    *string   `json:"error"`
	} `json:"policy"`
	Round    int `json:"round"`
	Backends []struct {
		Name      string   `json:"name"`
		URL       string   `json:"url"`
		Healthy   bool     `json:"healthy"`
		LatencyMs *float64 `json:"latency_ms"`
		Weight    float64  `json:"weight"`
		Redirects uint64   `json:"redirects"`
	} `json:"backends"`
}

// redirect asks the balancer once and returns status and Location.
func redirect(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := noFollow.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// shares sends n requests and returns the fraction that went to each URL.
func shares(t *testing.T, base string, n int) map[string]float64 {
	t.Helper()
	count := map[string]int{}
	for range n {
		code, loc := redirect(t, base, "/x")
		if code != 301 {
			t.Fatalf("status %d", code)
		}
		count[strings.TrimSuffix(loc, "/x")]++
	}
	out := map[string]float64{}
	for k, v := range count {
		out[k] = float64(v) / float64(n)
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRankingAndShares starts three real servers at different rates: the
// fastest must get weight 3 and half the redirects, the slowest weight 1
// and a sixth.
func TestRankingAndShares(t *testing.T) {
	fast, mid, slow := backend(t, "-rate", "16MiB"), backend(t, "-rate", "2MiB"), backend(t, "-rate", "256KiB")
	dir := t.TempDir()
	bs := map[string]string{"fast": fast.URL, "mid": mid.URL, "slow": slow.URL}
	cfg := writeConfig(t, dir, defaultPolicy(t), "", bs, "slow", "fast", "mid")
	l := startLB(t, dir, "-config", cfg)

	st := l.status(t)
	want := map[string]float64{"fast": 3, "mid": 2, "slow": 1}
	for _, b := range st.Backends {
		if !b.Healthy || b.Weight != want[b.Name] || b.LatencyMs == nil {
			t.Errorf("backend %s: healthy %v weight %v latency %v; want healthy, weight %v", b.Name, b.Healthy, b.Weight, b.LatencyMs, want[b.Name])
		}
	}
	// 6000 draws: the standard error of a share is below 0.0065; 0.035 cannot flake.
	got := shares(t, l.URL, 6000)
	for name, w := range want {
		if d := math.Abs(got[bs[name]] - w/6); d > 0.035 {
			t.Errorf("%s: share %.3f, want %.3f", name, got[bs[name]], w/6)
		}
	}

	// The redirect itself: path and query kept, no caching, a page.
	resp, err := noFollow.Get(l.URL + "/dir/file.txt?a=1&b=%20x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 301 || !strings.HasSuffix(loc, "/dir/file.txt?a=1&b=%20x") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("redirect %d Location %q Cache-Control %q", resp.StatusCode, loc, resp.Header.Get("Cache-Control"))
	}
	if !bytes.Contains(body, []byte("Moved Permanently")) || !bytes.Contains(body, []byte("/dir/file.txt?a=1&amp;b=%20x")) {
		t.Errorf("body %q", body)
	}
	// The admin page and metrics show the same.
	page := get(t, l.admin+"/")
	for _, s := range []string{"fast", "mid", "slow", "<svg", "weighted-fastest.lua", "http-equiv=\"refresh\""} {
		if !strings.Contains(page, s) {
			t.Errorf("admin page lacks %q", s)
		}
	}
	metrics := get(t, l.admin+"/metrics")
	for _, s := range []string{`ricochet_redirects_total{backend="fast",status="301"}`, "ricochet_probe_duration_seconds_bucket",
		`ricochet_backend_healthy{backend="slow"} 1`, "ricochet_policy_errors_total", "ricochet_reloads_total", "ricochet_policy_call_duration_seconds"} {
		if !strings.Contains(metrics, s) {
			t.Errorf("metrics lack %q", s)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestAllDownAnswers503AndRecovers(t *testing.T) {
	addr := closedPort(t)
	dir := t.TempDir()
	l := startLB(t, dir, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-policy", defaultPolicy(t), addr)
	resp, err := noFollow.Get(l.URL + "/file")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "503") {
		t.Fatalf("all down: %d Retry-After %q body %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// A server appears on that port: traffic resumes by itself (default 5s interval).
	testbin.Start(t, "", serverBin, "-addr", addr, "-root", t.TempDir())
	waitFor(t, "traffic resumes", 8*time.Second, func() bool {
		code, _ := redirect(t, l.URL, "/file")
		return code == 301
	})
}

// TestBackendLeavesAndRejoins kills a backend (SIGKILL) under load and
// restarts it on the same port, and checks the times to leave and rejoin
// against fall x interval + timeout and rise x interval + timeout.
func TestBackendLeavesAndRejoins(t *testing.T) {
	a, b := backend(t), backend(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, defaultPolicy(t), "", map[string]string{"a": a.URL, "b": b.URL}, "a", "b")
	l := startLB(t, dir, "-config", cfg)
	const interval, timeout, fall, rise = 150 * time.Millisecond, time.Second, 1, 1
	// One round may be in flight when the change happens: add one interval
	// and the scheduling slack of a loaded machine.
	leaveBound := fall*interval + timeout + interval + 300*time.Millisecond
	rejoinBound := rise*interval + interval + 300*time.Millisecond
	if s := shares(t, l.URL, 200); s[b.URL] == 0 {
		t.Fatalf("b gets no traffic before the test: %v", s)
	}
	b.Cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	waitFor(t, "b leaves", 2*leaveBound, func() bool { return shares(t, l.URL, 50)[b.URL] == 0 })
	left := time.Since(killed)
	if s := shares(t, l.URL, 500); s[b.URL] != 0 {
		t.Fatalf("b still gets traffic after leaving: %v", s)
	}
	backAt := time.Now()
	testbin.Start(t, "", serverBin, "-addr", b.Addr, "-root", t.TempDir())
	waitFor(t, "b rejoins", 2*rejoinBound, func() bool { return shares(t, l.URL, 100)[b.URL] > 0 })
	rejoined := time.Since(backAt)
	t.Logf("left after %v (bound %v), rejoined after %v (bound %v)", left.Round(time.Millisecond), leaveBound,
		rejoined.Round(time.Millisecond), rejoinBound)
	if left > leaveBound || rejoined > rejoinBound {
		t.Errorf("left after %v (bound %v), rejoined after %v (bound %v)", left, leaveBound, rejoined, rejoinBound)
	}
}

// TestBadInputNeverLeavesTheBackends sends hostile requests as raw bytes and
// checks every Location is under a backend and no header is injected.
func TestBadInputNeverLeavesTheBackends(t *testing.T) {
	a := backend(t)
	dir := t.TempDir()
	l := startLB(t, dir, "-listen", "127.0.0.1:0", "-admin", "", "-policy", defaultPolicy(t), a.Addr)
	tests := []struct {
		name, req string
		want      int // or, for the rejected ones, 400 also accepted below
	}{
		{"absolute-form", "GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 301},
		{"absolute-form https", "GET https://evil.example HTTP/1.1\r\nHost: x\r\n\r\n", 301},
		{"protocol-relative", "GET //evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n", 301},
		{"backslashes", "GET /\\\\evil.example HTTP/1.1\r\nHost: x\r\n\r\n", 301},
		{"at sign", "GET @evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"encoded CRLF", "GET /a%0d%0aSet-Cookie:%20x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 301},
		{"raw CR in path", "GET /a\rSet-Cookie: x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 505}, // the line ends at CR: no version
		{"raw LF in path", "GET /a\nSet-Cookie: x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 505},
		{"NUL in path", "GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"non-ASCII", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 301},
		{"quotes", "GET /\"><script> HTTP/1.1\r\nHost: x\r\n\r\n", 301},
		{"huge header", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431},
		{"garbage", "\x16\x03\x01garbage\r\n\r\n", 400},
		{"missing version", "GET /\r\n\r\n", 505},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 301},
		{"host header injection", "GET / HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\n\r\n", 301},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if strings.HasSuffix(req, "\r\n\r\n") && strings.Contains(req, "Host:") {
				req = strings.TrimSuffix(req, "\r\n") + "Connection: close\r\n\r\n"
			}
			resp, err := testbin.Raw(l.Addr, []byte(req), 2*time.Second)
			if err != nil && len(resp) == 0 {
				t.Fatal(err)
			}
			if got := testbin.Status(resp); got != tt.want {
				t.Errorf("status %d, want %d\n%.300q", got, tt.want, resp)
			}
			head, _, _ := bytes.Cut(resp, []byte("\r\n\r\n"))
			for _, line := range strings.Split(string(head), "\r\n")[1:] {
				k, v, _ := strings.Cut(line, ":")
				if strings.EqualFold(k, "Set-Cookie") {
					t.Errorf("injected header %q", line)
				}
				if strings.EqualFold(k, "Location") {
					v = strings.TrimSpace(v)
					if !strings.HasPrefix(v, "http://"+a.Addr+"/") {
						t.Errorf("Location %q leaves the backend %s", v, a.Addr)
					}
				}
			}
		})
	}
}

// TestFailingPoliciesKeepRedirecting starts the balancer with policies that
// fail in every way; each must still answer every request with a redirect
// and report the error.
func TestFailingPoliciesKeepRedirecting(t *testing.T) {
	a, b := backend(t), backend(t)
	tests := []struct{ name, src, errWant string }{
		{"loops forever", "function weigh(bs) while true do end end", "time limit"},
		{"errors", "function weigh(bs) error('kaput') end", "kaput"},
		{"returns garbage", "function weigh(bs) return 'heavy' end", "returned string"},
		{"unknown backend", "function weigh(bs) return { nosuch = 1 } end", "unknown backend"},
		{"negative weight", "function weigh(bs) return { a = -5 } end", ">= 0"},
		{"missing library", "function weigh(bs) return { a = os.time() } end", "os library"},
		{"pick loops", "function weigh(bs) return { a = 1, b = 1 } end\nfunction pick(r) while true do end end", ""},
		{"pick errors", "function weigh(bs) return { a = 1, b = 1 } end\nfunction pick(r) error('nope') end", ""},
		{"pick garbage", "function weigh(bs) return { a = 1, b = 1 } end\nfunction pick(r) return { 1 } end", ""},
		{"pick unknown", "function weigh(bs) return { a = 1, b = 1 } end\nfunction pick(r) return 'nosuch' end", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pol := filepath.Join(dir, "p.lua")
			os.WriteFile(pol, []byte(tt.src), 0o644)
			cfg := writeConfig(t, dir, pol, "", map[string]string{"a": a.URL, "b": b.URL}, "a", "b")
			l := startLB(t, dir, "-config", cfg)
			got := shares(t, l.URL, 100)
			if got[a.URL]+got[b.URL] != 1 {
				t.Errorf("shares %v", got)
			}
			if tt.errWant != "" {
				st := l.status(t)
				if st.Policy.Error == nil || !strings.Contains(*st.Policy.Error, tt.errWant) {
					t.Errorf("status policy.error %v, want it to contain %q", st.Policy.Error, tt.errWant)
				}
			}
		})
	}
}

const (
	polA = "function weigh(bs) return { a = 1 } end\n"
	polB = "function weigh(bs) return { b = 1 } end\n"
)

// TestPolicyReloadEveryWayOfWriting changes the policy from "all to a" to
// "all to b" by each way editors and operators write files, and expects the
// redirects to follow within one second.
func TestPolicyReloadEveryWayOfWriting(t *testing.T) {
	a, b := backend(t), backend(t)
	ways := []struct {
		name  string
		setup func(dir string) string // returns the policy path
		write func(t testing.TB, path, content string)
	}{
		{"in place", plainFile, func(t testing.TB, path, content string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(content)
			f.Close()
		}},
		{"write temp and rename", plainFile, writeAtomic},
		{"delete and recreate", plainFile, func(t testing.TB, path, content string) {
			os.Remove(path)
			time.Sleep(30 * time.Millisecond)
			os.WriteFile(path, []byte(content), 0o644)
		}},
		{"symlink swap", func(dir string) string {
			os.Mkdir(filepath.Join(dir, "pol"), 0o755)
			testbin.WriteConfigMap(t, filepath.Join(dir, "pol"), "p.lua", polA)
			return filepath.Join(dir, "pol", "p.lua")
		}, func(t testing.TB, path, content string) {
			testbin.WriteConfigMap(t, filepath.Dir(path), "p.lua", content)
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			dir := t.TempDir()
			pol := w.setup(dir)
			cfg := writeConfig(t, dir, pol, "", map[string]string{"a": a.URL, "b": b.URL}, "a", "b")
			l := startLB(t, dir, "-config", cfg)
			if s := shares(t, l.URL, 50); s[a.URL] != 1 {
				t.Fatalf("before: shares %v, want all to a", s)
			}
			w.write(t, pol, polB)
			start := time.Now()
			waitFor(t, "redirects follow the new policy", time.Second, func() bool {
				_, loc := redirect(t, l.URL, "/x")
				return strings.HasPrefix(loc, b.URL)
			})
			t.Logf("took effect %v after the write", time.Since(start).Round(time.Millisecond))
			if s := shares(t, l.URL, 50); s[b.URL] != 1 {
				t.Errorf("after: shares %v, want all to b", s)
			}
		})
	}
}

func plainFile(dir string) string {
	p := filepath.Join(dir, "p.lua")
	os.WriteFile(p, []byte(polA), 0o644)
	return p
}

// TestBrokenFilesAreReportedAndKept writes a broken policy, then a broken
// TOML, and expects the running ones to stay and the errors to show.
func TestBrokenFilesAreReportedAndKept(t *testing.T) {
	a, b := backend(t), backend(t)
	dir := t.TempDir()
	pol := plainFile(dir)
	bs := map[string]string{"a": a.URL, "b": b.URL}
	cfg := writeConfig(t, dir, pol, "", bs, "a", "b")
	l := startLB(t, dir, "-config", cfg)

	steps := []struct {
		name, file, content, errWant string
	}{
		{"lua syntax error", pol, "function weigh(bs) return { a = 1 \n", "p.lua"},
		{"weigh errors on current results", pol, "function weigh(bs) return { zed = 1 } end", "unknown backend"},
		{"toml syntax error", cfg, "listen = \n", "line 1"},
		{"toml unknown key", cfg, "listen = \"127.0.0.1:0\"\nbogus = 1\n", `unknown key "bogus"`},
		{"toml bad url", cfg, "[[backends]]\nname = \"a\"\nurl = \"ftp://x\"\n", "line 3"},
	}
	for _, s := range steps {
		writeAtomic(t, s.file, s.content)
		waitFor(t, s.name+" reported", 2*time.Second, func() bool {
			st := l.status(t)
			return st.Policy.Error != nil && strings.Contains(*st.Policy.Error, s.errWant)
		})
		if sh := shares(t, l.URL, 50); sh[a.URL] != 1 {
			t.Fatalf("%s: shares %v, want the running policy (all to a)", s.name, sh)
		}
		if s.file == pol {
			writeAtomic(t, pol, polA)
		} else {
			writeConfig(t, dir, pol, "", bs, "a", "b")
		}
		waitFor(t, s.name+" cleared", 2*time.Second, func() bool { return l.status(t).Policy.Error == nil })
	}
	if !strings.Contains(l.Stderr(), "reload failed") {
		t.Errorf("stderr does not log the failed reloads:\n%s", l.Stderr())
	}
}

// TestReloadStormUnderLoad runs concurrent clients while 50 reloads
// alternate good and broken policies and configs: no request may fail.
func TestReloadStormUnderLoad(t *testing.T) {
	a, b, c := backend(t), backend(t), backend(t)
	dir := t.TempDir()
	pol := plainFile(dir)
	all := map[string]string{"a": a.URL, "b": b.URL, "c": c.URL}
	cfg := writeConfig(t, dir, pol, "", all, "a", "b")
	l := startLB(t, dir, "-config", cfg)

	var ok, bad atomic.Int64
	var badMu sync.Mutex
	var badSample []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := noFollow.Get(l.URL + "/f")
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				loc := resp.Header.Get("Location")
				if resp.StatusCode != 301 || !(strings.HasPrefix(loc, a.URL) || strings.HasPrefix(loc, b.URL) || strings.HasPrefix(loc, c.URL)) {
					bad.Add(1)
					badMu.Lock()
					badSample = append(badSample, fmt.Sprintf("%d %s", resp.StatusCode, loc))
					badMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	goodPols := []string{polA, polB, "function weigh(bs) local w = {} for _, x in ipairs(bs) do w[x.name] = 1 end return w end"}
	for i := range 50 {
		switch i % 5 {
		case 0:
			writeAtomic(t, pol, goodPols[i%3])
		case 1:
			writeAtomic(t, pol, "function weigh(bs) syntax error here")
		case 2:
			writeConfig(t, dir, pol, "", all, "a", "b", "c") // add c
		case 3:
			writeAtomic(t, cfg, "listen = \"127.0.0.1:0\"\nnot valid toml [[[")
		case 4:
			writeConfig(t, dir, pol, "", all, "a", "b") // remove c
			writeAtomic(t, pol, polA)
		}
		time.Sleep(40 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d requests during 50 reloads, %d failed", ok.Load(), bad.Load())
	if bad.Load() != 0 {
		t.Errorf("%d failed or non-redirect responses, e.g. %v", bad.Load(), badSample[:min(5, len(badSample))])
	}
	if ok.Load() < 500 {
		t.Errorf("only %d requests went through", ok.Load())
	}
}

// TestReloadKeepsHealth checks that a down backend stays down across a
// reload, and that an added one is probed before it takes traffic.
func TestReloadKeepsHealthAndProbesAdded(t *testing.T) {
	a := backend(t)
	down := closedPort(t)
	dir := t.TempDir()
	pol := defaultPolicy(t)
	urls := map[string]string{"a": a.URL, "down": "http://" + down}
	// A long interval: only the reload's own probe can bring in "c".
	write := func(names ...string) {
		var sb strings.Builder
		fmt.Fprintf(&sb, "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\npolicy = %q\n[probe]\ninterval = \"1h\"\ntimeout = \"1s\"\n", pol)
		for _, n := range names {
			fmt.Fprintf(&sb, "[[backends]]\nname = %q\nurl = %q\n", n, urls[n])
		}
		writeAtomic(t, filepath.Join(dir, "balancer.toml"), sb.String())
	}
	write("a", "down")
	l := startLB(t, dir, "-config", filepath.Join(dir, "balancer.toml"))
	healthy := func(name string) bool {
		for _, b := range l.status(t).Backends {
			if b.Name == name {
				return b.Healthy
			}
		}
		return false
	}
	if healthy("down") || !healthy("a") {
		t.Fatal("initial health wrong")
	}
	c := backend(t)
	urls["c"] = c.URL
	write("a", "down", "c")
	waitFor(t, "c probed and taking traffic", 2*time.Second, func() bool { return shares(t, l.URL, 50)[c.URL] > 0 })
	if healthy("down") {
		t.Error("a reload made a down backend look healthy")
	}
	// SIGHUP and POST /reload work too (nothing changed: both succeed).
	l.Signal(syscall.SIGHUP)
	resp, err := http.Post(l.admin+"/reload", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("POST /reload: %v %v", resp, err)
	}
	// Removing c stops its traffic at once.
	write("a", "down")
	waitFor(t, "c removed", time.Second, func() bool { return shares(t, l.URL, 50)[c.URL] == 0 })
}

func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string) {
		cmd := exec.Command(balancerBin, args...)
		cmd.Dir = dir
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), errb.String()
		}
		return 0, errb.String()
	}
	if code, msg := run("-policy", defaultPolicy(t)); code != 2 || !strings.Contains(msg, "no backends") {
		t.Errorf("no backends: exit %d %q, want 2", code, msg)
	}
	if code, msg := run("-listen", "127.0.0.1:0", "-policy", "/nonexistent.lua", "127.0.0.1:1"); code != 1 || !strings.Contains(msg, "nonexistent.lua") {
		t.Errorf("missing policy: exit %d %q, want 1", code, msg)
	}
	port := closedPort(t)
	if code, msg := run("-listen", port, "-admin", "", "-policy", defaultPolicy(t), port); code != 1 || !strings.Contains(msg, "own listen address") {
		t.Errorf("self loop: exit %d %q, want 1", code, msg)
	}
	os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("[[backends]]\nname = \"a\"\nurl = \"h:1\"\nwieght = 3\n"), 0o644)
	if code, msg := run("-config", "bad.toml"); code != 1 || !strings.Contains(msg, "line 4") {
		t.Errorf("bad config: exit %d %q, want 1 naming line 4", code, msg)
	}
}

func TestCheckAndSimulate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.lua")
	os.WriteFile(bad, []byte("function weigh(b)\n  return x.y\nend\n"), 0o644)
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"check", "-policy", defaultPolicy(t)}, 0, "ok: policy"},
		{[]string{"check", "-policy", bad}, 1, "bad.lua:2"},
		{[]string{"simulate", "-policy", defaultPolicy(t), "-latency", "a=0.010,b=0.020,c=0.050", "-n", "60000"}, 0, "60000 picks"},
		{[]string{"simulate", "-policy", defaultPolicy(t), "-latency", "a=0.010,b=0.020,c=0.050", "-down", "a"}, 0, "down"},
		{[]string{"simulate", "-policy", defaultPolicy(t)}, 2, "usage"},
		{[]string{"simulate", "-policy", defaultPolicy(t), "-latency", "a=x"}, 2, "positive number"},
	}
	for _, tt := range tests {
		cmd := exec.Command(balancerBin, tt.args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tt.code || !strings.Contains(string(out), tt.out) {
			t.Errorf("balancer %v: exit %d, output %q; want %d and %q", tt.args, code, out, tt.code, tt.out)
		}
	}
	// The simulated shares of the default policy are 3:2:1.
	out, _ := exec.Command(balancerBin, "simulate", "-policy", defaultPolicy(t), "-latency", "a=0.010,b=0.020,c=0.050", "-n", "60000").Output()
	for _, row := range []struct {
		name  string
		share float64
	}{{"a", 50}, {"b", 33.3}, {"c", 16.7}} {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 7 && f[0] == row.name {
				var got float64
				fmt.Sscanf(strings.TrimSuffix(f[6], "%"), "%f", &got)
				if math.Abs(got-row.share) > 1.5 {
					t.Errorf("simulate: %s share %.1f%%, want %.1f%%\n%s", row.name, got, row.share, out)
				}
			}
		}
	}
}

// BenchmarkReloadLatency measures the time from a policy file being
// replaced (write temp, rename) to the first redirect that follows the new
// policy, over the real binaries. Run by make bench, not make test.
func BenchmarkReloadLatency(b *testing.B) {
	a1, a2 := testbin.Start(b, "", serverBin, "-addr", "127.0.0.1:0", "-root", b.TempDir()), testbin.Start(b, "", serverBin, "-addr", "127.0.0.1:0", "-root", b.TempDir())
	dir := b.TempDir()
	pol := filepath.Join(dir, "p.lua")
	os.WriteFile(pol, []byte(polA), 0o644)
	cfg := writeConfig(b, dir, pol, "", map[string]string{"a": a1.URL, "b": a2.URL}, "a", "b")
	p := testbin.Start(b, dir, balancerBin, "-config", cfg)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		src, want := polB, a2.URL
		if i%2 == 1 {
			src, want = polA, a1.URL
		}
		tmp := pol + ".tmp"
		os.WriteFile(tmp, []byte(src), 0o644)
		start := time.Now()
		os.Rename(tmp, pol)
		for {
			resp, err := noFollow.Get(p.URL + "/x")
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if strings.HasPrefix(resp.Header.Get("Location"), want) {
				break
			}
			if time.Since(start) > 2*time.Second {
				b.Fatalf("reload %d not seen within 2s; balancer log:\n%s", i, p.Stderr())
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
}

// TestChangeRightAfterStartIsSeen saves the policy the moment the balancer
// announces itself: watching starts before the announcement.
func TestChangeRightAfterStartIsSeen(t *testing.T) {
	a, b := backend(t), backend(t)
	for range 3 {
		dir := t.TempDir()
		pol := plainFile(dir)
		cfg := writeConfig(t, dir, pol, "", map[string]string{"a": a.URL, "b": b.URL}, "a", "b")
		l := startLB(t, dir, "-config", cfg)
		writeAtomic(t, pol, polB)
		waitFor(t, "change saved right after start", time.Second, func() bool {
			_, loc := redirect(t, l.URL, "/x")
			return strings.HasPrefix(loc, b.URL)
		})
		l.Kill()
	}
}

// TestPolicyPathChangeSwitchesTheWatch points the TOML at another policy
// file, then edits that file: the edit must take effect too.
func TestPolicyPathChangeSwitchesTheWatch(t *testing.T) {
	a, b := backend(t), backend(t)
	dir := t.TempDir()
	pol := plainFile(dir) // all to a
	sub := filepath.Join(dir, "other")
	os.Mkdir(sub, 0o755)
	pol2 := filepath.Join(sub, "p2.lua")
	os.WriteFile(pol2, []byte(polB), 0o644)
	bs := map[string]string{"a": a.URL, "b": b.URL}
	cfg := writeConfig(t, dir, pol, "", bs, "a", "b")
	l := startLB(t, dir, "-config", cfg)
	writeConfig(t, dir, pol2, "", bs, "a", "b")
	waitFor(t, "the new policy file is used", time.Second, func() bool {
		_, loc := redirect(t, l.URL, "/x")
		return strings.HasPrefix(loc, b.URL)
	})
	if got := l.status(t).Policy.Path; got != pol2 {
		t.Errorf("status policy.path %q, want %q", got, pol2)
	}
	writeAtomic(t, pol2, polA) // edit the newly watched file
	waitFor(t, "an edit of the new policy file is seen", time.Second, func() bool {
		_, loc := redirect(t, l.URL, "/x")
		return strings.HasPrefix(loc, a.URL)
	})
}

// TestBalancerGracefulShutdown sends SIGTERM after serving: the balancer
// stops accepting, finishes, and exits 0.
func TestBalancerGracefulShutdown(t *testing.T) {
	a := backend(t)
	l := startLB(t, t.TempDir(), "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-policy", defaultPolicy(t), a.Addr)
	if code, _ := redirect(t, l.URL, "/x"); code != 301 {
		t.Fatalf("status %d", code)
	}
	l.Signal(syscall.SIGTERM)
	code, err := l.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Errorf("after SIGTERM: exit %d, %v; want 0", code, err)
	}
	if !strings.Contains(l.Stderr(), "shutting down") {
		t.Errorf("stderr %q", l.Stderr())
	}
}

// TestRedirectStatusAndPageOverrides configures 307 and a pages directory
// overriding 307.html (with the {{location}} placeholder) and 503.html.
func TestRedirectStatusAndPageOverrides(t *testing.T) {
	a := backend(t)
	dir := t.TempDir()
	pagesDir := filepath.Join(dir, "pages")
	os.Mkdir(pagesDir, 0o755)
	os.WriteFile(filepath.Join(pagesDir, "307.html"), []byte("<p>go to {{location}} now</p>"), 0o644)
	os.WriteFile(filepath.Join(pagesDir, "503.html"), []byte("<p>custom unavailable</p>"), 0o644)
	down := closedPort(t)
	bs := map[string]string{"a": a.URL, "down": "http://" + down}
	cfg := writeConfig(t, dir, defaultPolicy(t), "redirect_status = 307\npages = \"pages\"", bs, "a")
	l := startLB(t, dir, "-config", cfg)
	resp, err := noFollow.Get(l.URL + "/x?q=1&r=2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "<p>go to " + a.URL + "/x?q=1&amp;r=2 now</p>"
	if resp.StatusCode != 307 || string(body) != want {
		t.Errorf("got %d %q, want 307 %q", resp.StatusCode, body, want)
	}
	// Only the down backend left: the custom 503 page.
	writeConfig(t, dir, defaultPolicy(t), "redirect_status = 307\npages = \"pages\"", bs, "down")
	waitFor(t, "custom 503 page", 2*time.Second, func() bool {
		resp, err := noFollow.Get(l.URL + "/x")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 503 && string(body) == "<p>custom unavailable</p>"
	})
}
