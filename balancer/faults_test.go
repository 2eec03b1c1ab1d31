package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hangingBackend accepts connections and never answers; closed at cleanup.
func hangingBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

// TestMisbehavingBackends: a backend that never answers, one answering the
// probe with 500, one sending a short body and one slower than the probe
// timeout are all marked unhealthy; probe rounds keep their pace and no
// redirect waits for them.
func TestMisbehavingBackends(t *testing.T) {
	good := backend(t)
	slow := backend(t, "-delay", "3s")
	err500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", 500) }))
	defer err500.Close()
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "65536")
		w.Write([]byte("truncated"))
	}))
	defer short.Close()
	bs := map[string]string{"good": good.URL, "hang": hangingBackend(t), "err500": err500.URL, "short": short.URL, "slow": slow.URL}
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\npolicy = %q\n[probe]\ninterval = \"200ms\"\ntimeout = \"500ms\"\n", defaultPolicy(t))
	for _, n := range []string{"good", "hang", "err500", "short", "slow"} {
		fmt.Fprintf(&b, "[[backends]]\nname = %q\nurl = %q\n", n, bs[n])
	}
	os.WriteFile(filepath.Join(dir, "balancer.toml"), []byte(b.String()), 0o644)
	started := time.Now()
	l := startLB(t, dir, "-config", filepath.Join(dir, "balancer.toml"))
	// The first round is bounded by the probe timeout, whatever hangs.
	if el := time.Since(started); el > 3*time.Second {
		t.Errorf("start-up took %v with hanging backends", el)
	}
	st := l.status(t)
	for _, be := range st.Backends {
		if be.Healthy != (be.Name == "good") {
			t.Errorf("%s healthy = %v", be.Name, be.Healthy)
		}
	}
	// Redirects never wait for a probe: each answers fast and goes to good.
	var worst time.Duration
	for range 300 {
		start := time.Now()
		code, loc := redirect(t, l.URL, "/f")
		if d := time.Since(start); d > worst {
			worst = d
		}
		if code != 301 || !strings.HasPrefix(loc, good.URL) {
			t.Fatalf("redirect %d %q, want 301 to good", code, loc)
		}
	}
	// A redirect that waited for a probe would take the 500 ms probe timeout.
	t.Logf("slowest of 300 redirects during the rounds: %v", worst)
	if worst > 400*time.Millisecond {
		t.Errorf("slowest redirect took %v during probe rounds with hanging backends", worst)
	}
	// Rounds keep their pace: interval + timeout at most, not stalled.
	r0, t0 := l.status(t).Round, time.Now()
	time.Sleep(1500 * time.Millisecond)
	r1 := l.status(t).Round
	if rounds := r1 - r0; rounds < 2 {
		t.Errorf("%d probe rounds in %v with 200ms interval and 500ms timeout", rounds, time.Since(t0).Round(time.Millisecond))
	}
	errs := map[string]string{}
	for _, be := range l.statusFull(t) {
		errs[be.Name] = be.Error
	}
	for name, want := range map[string]string{"hang": "timeout", "err500": "status 500", "short": "EOF", "slow": "timeout"} {
		if !strings.Contains(errs[name], want) {
			t.Errorf("%s: probe error %q, want it to mention %q", name, errs[name], want)
		}
	}
}

type backendErr struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

func (l *lb) statusFull(t *testing.T) []backendErr {
	t.Helper()
	var s struct {
		Backends []backendErr `json:"backends"`
	}
	resp, err := http.Get(l.admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Backends
}

// slowLoris opens n connections that each send one byte of a request head
// per second until stop is closed.
func slowLoris(t *testing.T, addr string, n int, stop <-chan struct{}) {
	t.Helper()
	head := []byte("GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: " + strings.Repeat("a", 100))
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	go func() {
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; ; i++ {
			for _, c := range conns {
				c.Write(head[i%len(head) : i%len(head)+1])
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
}

// TestSlowClientsDoNotBlockOthers holds 500 connections sending one header
// byte per second against the balancer and the server; a normal client
// still gets each redirect and file within 100 ms.
func TestSlowClientsDoNotBlockOthers(t *testing.T) {
	srv := backend(t)
	l := startLB(t, t.TempDir(), "-listen", "127.0.0.1:0", "-admin", "", "-policy", defaultPolicy(t), srv.Addr)
	stop := make(chan struct{})
	defer close(stop)
	slowLoris(t, l.Addr, 500, stop)
	slowLoris(t, srv.Addr, 500, stop)
	time.Sleep(300 * time.Millisecond)
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var worstLB, worstSrv time.Duration
	for range 30 {
		start := time.Now()
		resp, err := client.Get(l.URL + "/performanceTest.html")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		worstLB = max(worstLB, time.Since(start))
		if resp.StatusCode != 301 {
			t.Fatalf("balancer: %d", resp.StatusCode)
		}
		start = time.Now()
		resp, err = client.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		worstSrv = max(worstSrv, time.Since(start))
		if resp.StatusCode != 200 || n != 64<<10 {
			t.Fatalf("server: %d, %d bytes", resp.StatusCode, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("with 500 slow clients each: slowest redirect %v, slowest 64 KiB file %v", worstLB, worstSrv)
	if worstLB > 100*time.Millisecond || worstSrv > 100*time.Millisecond {
		t.Errorf("slowest redirect %v, slowest file %v; want both within 100ms", worstLB, worstSrv)
	}
}

// TestIdleAndSlowConnectionsAreClosed checks the read timeout (10 s) on both
// programs: a connection that sends nothing, and one that dribbles a header,
// are closed by the server.
func TestIdleAndSlowConnectionsAreClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s read timeout")
	}
	t.Parallel()
	srv := backend(t)
	l := startLB(t, t.TempDir(), "-listen", "127.0.0.1:0", "-admin", "", "-policy", defaultPolicy(t), srv.Addr)
	type probe struct {
		name string
		c    net.Conn
	}
	var probes []probe
	for _, target := range []struct{ name, addr string }{{"balancer", l.Addr}, {"server", srv.Addr}} {
		idle, err := net.Dial("tcp", target.addr)
		if err != nil {
			t.Fatal(err)
		}
		dribble, err := net.Dial("tcp", target.addr)
		if err != nil {
			t.Fatal(err)
		}
		probes = append(probes, probe{target.name + " idle", idle}, probe{target.name + " dribbling", dribble})
		go func() {
			for i := 0; i < 30; i++ {
				if _, err := dribble.Write([]byte("G")); err != nil {
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.c.SetReadDeadline(time.Now().Add(14 * time.Second))
			io.Copy(io.Discard, p.c) // returns when the server closes
			if el := time.Since(start); el > 13*time.Second {
				t.Errorf("%s: still open after %v", p.name, el.Round(time.Second))
			}
			p.c.Close()
		}()
	}
	wg.Wait()
}

// TestHostilePolicyMemoryIsBounded runs policies that allocate as fast as
// they can in weigh and in pick: the time limits stop them, redirects keep
// flowing at speed (a failing pick is paused), and the balancer's peak
// memory stays bounded.
func TestHostilePolicyMemoryIsBounded(t *testing.T) {
	a, b := backend(t), backend(t)
	src := `
function weigh(bs)
  local t = {}
  while true do t[#t + 1] = { string.rep("x", 1000), #t } end
end
local keep = {}
function pick(req)
  while true do keep[#keep + 1] = string.rep("y", 4096) end
end`
	dir := t.TempDir()
	pol := filepath.Join(dir, "hog.lua")
	os.WriteFile(pol, []byte(src), 0o644)
	cfg := writeConfig(t, dir, pol, "", map[string]string{"a": a.URL, "b": b.URL}, "a", "b")
	l := startLB(t, dir, "-config", cfg)
	deadline := time.Now().Add(3 * time.Second) // about 20 weigh rounds
	n := 0
	for time.Now().Before(deadline) {
		code, _ := redirect(t, l.URL, "/x")
		if code != 301 {
			t.Fatalf("status %d while the policy hogs memory", code)
		}
		n++
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.Cmd.Process.Pid))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var peakKiB int
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Sscanf(strings.TrimPrefix(line, "VmHWM:"), "%d", &peakKiB)
		}
	}
	t.Logf("%d redirects in 3s; balancer peak RSS %d MiB", n, peakKiB>>10)
	if peakKiB > 512<<10 {
		t.Errorf("peak RSS %d MiB, want under 512 MiB", peakKiB>>10)
	}
	// The failing pick is paused after 10 errors in a row, so redirects go
	// on at the weights' speed most of the time.
	if n < 2000 {
		t.Errorf("only %d redirects in 3s with a failing pick: the breaker did not engage", n)
	}
}
