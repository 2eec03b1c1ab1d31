package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"ricochet/internal/testbin"
)

var serverBin string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{"server": &serverBin})
}

const (
	secret = "TOPSECRET-7f3a9c"
	hidden = "HIDDENFILE-41b2"
)

// fixture lays out base/secret.txt next to the served root base/www, with
// dotfiles and symlinks pointing in and out, and returns the root.
func fixture(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "www")
	files := map[string]string{
		"secret.txt":          secret,
		"www/hello.txt":       "hello\n",
		"www/index.html":      "<h1>home</h1>\n",
		"www/sub/index.html":  "<h1>sub</h1>\n",
		"www/sub/file.txt":    "in sub\n",
		"www/.hidden":         hidden,
		"www/.git/config":     hidden,
		"www/sub/.hidden":     hidden,
		"www/noindex/a.txt":   "a\n",
		"www/page.html":       "<p>page</p>\n",
		"www/style.css":       "body{}\n",
		"www/data.json":       "{}\n",
		"www/space name.txt":  "spaced\n",
		"www/big.bin":         strings.Repeat("0123456789abcdef", 1<<16), // 1 MiB: not cached in memory
		"www/performance.txt": "x",
	}
	for name, content := range files {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"www/escape":     "../secret.txt",
		"www/escapedir":  "..",
		"www/abs":        filepath.Join(base, "secret.txt"),
		"www/inside.txt": "hello.txt",
		"www/sub/up.txt": "../hello.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func startServer(t *testing.T, args ...string) *testbin.Proc {
	t.Helper()
	return testbin.Start(t, "", serverBin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
}

func rawGet(t *testing.T, addr, target string) []byte {
	t.Helper()
	req := "GET " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
	resp, err := testbin.Raw(addr, []byte(req), 5*time.Second)
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	return resp
}

// TestHostilePaths sends request targets that try to leave the root, as raw
// bytes so no client cleans them first, and checks that neither the secret
// beside the root nor a dotfile inside it is ever returned.
func TestHostilePaths(t *testing.T) {
	p := startServer(t, "-root", fixture(t))
	bad := []int{400, 404}
	tests := []struct {
		target string
		want   []int
	}{
		{"/../secret.txt", bad},
		{"/../../secret.txt", bad},
		{"/../../../../../../etc/passwd", bad},
		{"/%2e%2e/secret.txt", bad},
		{"/%2E%2E/secret.txt", bad},
		{"/..%2fsecret.txt", bad},
		{"/..%2Fsecret.txt", bad},
		{"/%2e%2e%2fsecret.txt", bad},
		{"/.%2e/secret.txt", bad},
		{"/%2e./secret.txt", bad},
		{"/sub/../../secret.txt", bad},
		{"/sub/%2e%2e/%2e%2e/secret.txt", bad},
		{"/sub/..%2f..%2fsecret.txt", bad},
		{"/%252e%252e/secret.txt", bad},
		{"/%252e%252e%252fsecret.txt", bad},
		{"/..\\secret.txt", bad},
		{"/..%5csecret.txt", bad},
		{"/..%5Csecret.txt", bad},
		{"/sub\\..\\..\\secret.txt", bad},
		{"/%5c..%5csecret.txt", bad},
		{"/hello.txt%00.html", bad},
		{"/..%00/secret.txt", bad},
		{"/%00", bad},
		{"/%c0%ae%c0%ae/secret.txt", bad},
		{"/%%32%65%%32%65/secret.txt", bad},
		{"/%2", bad},
		{"/%zz/secret.txt", bad},
		{"/..;/secret.txt", bad},
		{"/.../secret.txt", bad},
		{"/" + strings.Repeat("../", 200) + "secret.txt", bad},
		{"/" + strings.Repeat("a", 5000), []int{404, 414, 431}},
		{"/" + strings.Repeat("a", 300) + ".txt", bad},
		{"//../secret.txt", bad},
		{"///secret.txt", bad},
		{"/secret.txt", bad},
		{"secret.txt", bad},
		{"*", bad},
		{"http://evil.example/../secret.txt", bad},
		{"http://evil.example/%2e%2e/secret.txt", bad},
		{"http://evil.example/escape", bad},
		{"/escape", bad},
		{"/escapedir/secret.txt", bad},
		{"/escapedir/www/hello.txt", bad},
		{"/abs", bad},
		{"/.hidden", bad},
		{"/%2ehidden", bad},
		{"/.git/config", bad},
		{"/%2egit/config", bad},
		{"/./.hidden", bad},
		{"/sub/.hidden", bad},
		{"/sub/%2e%2e/.hidden", bad},
		{"/noindex/", bad},
		// Legitimate neighbours of the cases above still work.
		{"/inside.txt", []int{200}},
		{"/sub/up.txt", []int{200}},
		{"/hello.txt", []int{200}},
		{"/./hello.txt", []int{200}},
		{"//hello.txt", []int{200}},
		{"/%68ello.txt", []int{200}},
		{"/space%20name.txt", []int{200}},
		{"/sub/", []int{200}},
		{"/sub", []int{301}},
		{"http://evil.example/hello.txt", []int{200}},
	}
	if n := len(tests); n < 40 {
		t.Fatalf("only %d cases", n)
	}
	for _, tt := range tests {
		resp := rawGet(t, p.Addr, tt.target)
		if got := testbin.Status(resp); !slices.Contains(tt.want, got) {
			t.Errorf("GET %q: status %d, want one of %v", tt.target, got, tt.want)
		}
		if bytes.Contains(resp, []byte(secret)) || bytes.Contains(resp, []byte(hidden)) {
			t.Errorf("GET %q: response leaks a protected file:\n%s", tt.target, resp)
		}
	}
	// A raw NUL and a raw CR inside the request line.
	for _, target := range []string{"/hello.txt\x00", "/..\x00/secret.txt", "/a\rb"} {
		resp, _ := testbin.Raw(p.Addr, []byte("GET "+target+" HTTP/1.1\r\nHost: t\r\n\r\n"), 3*time.Second)
		if got := testbin.Status(resp); got != 400 {
			t.Errorf("GET %q: status %d, want 400", target, got)
		}
	}
}

// TestMalformedRequests sends broken request lines and heads as raw bytes.
func TestMalformedRequests(t *testing.T) {
	p := startServer(t, "-root", fixture(t))
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"missing version", "GET /hello.txt\r\n\r\n", 505},
		{"HTTP/2.0", "GET /hello.txt HTTP/2.0\r\nHost: t\r\n\r\n", 505},
		{"HTTP/1.2", "GET /hello.txt HTTP/1.2\r\nHost: t\r\n\r\n", 505},
		{"HTTP/0.9", "GET /hello.txt HTTP/0.9\r\nHost: t\r\n\r\n", 505},
		{"not HTTP", "GET /hello.txt FOO/1.1\r\nHost: t\r\n\r\n", 505},
		{"garbage", "garbage\r\n\r\n", 400},
		{"binary", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"empty target", "GET  HTTP/1.1\r\nHost: t\r\n\r\n", 400},
		{"huge header", "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431},
		{"many headers", "GET /hello.txt HTTP/1.1\r\nHost: t\r\n" + strings.Repeat("X-A: b\r\n", 4000) + "\r\n", 431},
		{"unknown method", "BREW /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 501},
		{"DELETE", "DELETE /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 501},
		{"POST", "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 501},
		{"HTTP/1.0 ok", "GET /hello.txt HTTP/1.0\r\n\r\n", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := testbin.Raw(p.Addr, []byte(tt.req), 5*time.Second)
			if err != nil && len(resp) == 0 {
				t.Fatal(err)
			}
			if got := testbin.Status(resp); got != tt.want {
				t.Fatalf("status %d, want %d\n%.300s", got, tt.want, resp)
			}
			if tt.want >= 400 && !bytes.Contains(resp, []byte("<h1>")) {
				t.Errorf("status %d without an error page:\n%.300s", tt.want, resp)
			}
			if tt.want == 501 && !bytes.Contains(resp, []byte("Allow: GET, HEAD")) {
				t.Errorf("501 without Allow: GET, HEAD:\n%.300s", resp)
			}
		})
	}
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestServesFilesWithHeaders(t *testing.T) {
	root := fixture(t)
	p := startServer(t, "-root", root)
	tests := []struct {
		path, ctype, body string
	}{
		{"/hello.txt", "text/plain; charset=utf-8", "hello\n"},
		{"/", "text/html; charset=utf-8", "<h1>home</h1>\n"},
		{"/sub/", "text/html; charset=utf-8", "<h1>sub</h1>\n"},
		{"/page.html", "text/html; charset=utf-8", "<p>page</p>\n"},
		{"/style.css", "text/css; charset=utf-8", "body{}\n"},
		{"/data.json", "application/json", "{}\n"},
	}
	for _, tt := range tests {
		resp, body := get(t, p.URL+tt.path)
		if resp.StatusCode != 200 || body != tt.body {
			t.Errorf("GET %s: %d %q, want 200 %q", tt.path, resp.StatusCode, body, tt.body)
		}
		if got := resp.Header.Get("Content-Type"); got != tt.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.ctype)
		}
		for _, h := range []string{"Last-Modified", "ETag", "Content-Length"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s header", tt.path, h)
			}
		}
	}
	resp, _ := get(t, p.URL+"/sub?x=1")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "/sub/?x=1" {
		t.Errorf("GET /sub: %d Location %q, want 301 /sub/?x=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	// HEAD: same headers, no body.
	head, err := http.Head(p.URL + "/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 || head.ContentLength != 1<<20 {
		t.Errorf("HEAD /big.bin: %d length %d, want 200 %d", head.StatusCode, head.ContentLength, 1<<20)
	}
	// A large file (served with sendfile) arrives whole.
	_, body := get(t, p.URL+"/big.bin")
	if body != strings.Repeat("0123456789abcdef", 1<<16) {
		t.Errorf("GET /big.bin: got %d bytes, want the 1 MiB file", len(body))
	}
	// A file changed on disk is served anew (after the cache's revalidation).
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("changed, longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, body := get(t, p.URL+"/hello.txt")
		if body == "changed, longer\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /hello.txt still %q 3s after the file changed", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestErrorPages(t *testing.T) {
	root := fixture(t)
	errDir := t.TempDir()
	os.WriteFile(filepath.Join(errDir, "404.html"), []byte("custom not found"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"built-in", nil, "404 Not Found"},
		{"override", []string{"-errors", errDir}, "custom not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startServer(t, append([]string{"-root", root}, tc.args...)...)
			resp, body := get(t, p.URL+"/nope.txt")
			if resp.StatusCode != 404 || !strings.Contains(body, tc.want) {
				t.Errorf("GET /nope.txt: %d %q, want 404 containing %q", resp.StatusCode, body, tc.want)
			}
			// The 501 page is still the built-in one.
			r2, err := http.Post(p.URL+"/hello.txt", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := io.ReadAll(r2.Body)
			r2.Body.Close()
			if r2.StatusCode != 501 || !strings.Contains(string(b2), "501") || r2.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("POST: %d Allow %q body %q", r2.StatusCode, r2.Header.Get("Allow"), b2)
			}
		})
	}
}

func TestProbeFile(t *testing.T) {
	root := fixture(t)
	p := startServer(t, "-root", root, "-probe-size", "100KiB")
	resp, body := get(t, p.URL+"/performanceTest.html")
	if resp.StatusCode != 200 || len(body) != 100<<10 || !strings.HasPrefix(body, "<!DOCTYPE html>") {
		t.Fatalf("built-in probe: %d, %d bytes; want 200 and %d bytes of HTML", resp.StatusCode, len(body), 100<<10)
	}
	// A real file in the root takes precedence once it exists.
	if err := os.WriteFile(filepath.Join(root, "performanceTest.html"), []byte("real probe"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, body := get(t, p.URL+"/performanceTest.html"); body == "real probe" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the root's performanceTest.html was not served within 3s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRangeAndConditional(t *testing.T) {
	p := startServer(t, "-root", fixture(t))
	full, _ := get(t, p.URL+"/hello.txt")
	etag, lastMod := full.Header.Get("ETag"), full.Header.Get("Last-Modified")
	tests := []struct {
		name    string
		path    string
		hdr     []string
		status  int
		body    string
		content string // Content-Range
	}{
		{"range", "/hello.txt", []string{"Range", "bytes=1-3"}, 206, "ell", "bytes 1-3/6"},
		{"open range", "/hello.txt", []string{"Range", "bytes=2-"}, 206, "llo\n", "bytes 2-5/6"},
		{"suffix range", "/hello.txt", []string{"Range", "bytes=-2"}, 206, "o\n", "bytes 4-5/6"},
		{"end past size", "/hello.txt", []string{"Range", "bytes=4-100"}, 206, "o\n", "bytes 4-5/6"},
		{"unsatisfiable", "/hello.txt", []string{"Range", "bytes=6-"}, 416, "", "bytes */6"},
		{"malformed range ignored", "/hello.txt", []string{"Range", "bytes=x-y"}, 200, "hello\n", ""},
		{"big file range", "/big.bin", []string{"Range", "bytes=16-31"}, 206, "0123456789abcdef", "bytes 16-31/1048576"},
		{"if-none-match", "/hello.txt", []string{"If-None-Match", etag}, 304, "", ""},
		{"if-none-match weak", "/hello.txt", []string{"If-None-Match", "W/" + etag}, 304, "", ""},
		{"if-none-match other", "/hello.txt", []string{"If-None-Match", `"other"`}, 200, "hello\n", ""},
		{"if-modified-since", "/hello.txt", []string{"If-Modified-Since", lastMod}, 304, "", ""},
		{"if-modified-since old", "/hello.txt", []string{"If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 200, "hello\n", ""},
		{"if-match fails", "/hello.txt", []string{"If-Match", `"other"`}, 412, "", ""},
		{"if-match ok", "/hello.txt", []string{"If-Match", etag}, 200, "hello\n", ""},
		{"if-unmodified-since fails", "/hello.txt", []string{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 412, "", ""},
		{"if-range match", "/hello.txt", []string{"Range", "bytes=0-0", "If-Range", etag}, 206, "h", "bytes 0-0/6"},
		{"if-range stale", "/hello.txt", []string{"Range", "bytes=0-0", "If-Range", `"old"`}, 200, "hello\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, p.URL+tt.path, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 416 && body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.content {
				t.Errorf("Content-Range %q, want %q", got, tt.content)
			}
		})
	}
}

func TestRateAndDelay(t *testing.T) {
	root := fixture(t)
	// 128 KiB at 256 KiB/s takes about 0.5 s; the bound is generous.
	p := startServer(t, "-root", root, "-rate", "256KiB", "-probe-size", "128KiB")
	start := time.Now()
	_, body := get(t, p.URL+"/performanceTest.html")
	if el := time.Since(start); len(body) != 128<<10 || el < 350*time.Millisecond || el > 5*time.Second {
		t.Errorf("-rate 256KiB: %d bytes in %v, want %d bytes in about 0.5s", len(body), el, 128<<10)
	}
	d := startServer(t, "-root", root, "-delay", "300ms")
	start = time.Now()
	get(t, d.URL+"/hello.txt")
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("-delay 300ms answered in %v", el)
	}
}

func TestGracefulShutdown(t *testing.T) {
	root := fixture(t)
	// A slow download in flight when SIGTERM arrives still completes.
	p := startServer(t, "-root", root, "-rate", "1MiB")
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(p.URL + "/big.bin")
		if err != nil {
			got <- result{0, err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{len(b), err}
	}()
	time.Sleep(200 * time.Millisecond)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.n != 1<<20 {
		t.Errorf("in-flight download: %d bytes, %v; want %d", r.n, r.err, 1<<20)
	}
	code, err := p.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Errorf("exit %d, %v; want 0", code, err)
	}
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{{"-rate", "fast"}, {"-nope"}, {"-root", "/does/not/exist"}, {"extra"}} {
		cmd := testbinCommand(args...)
		err := cmd.Run()
		if err == nil {
			t.Errorf("server %v: exit 0, want an error", args)
		}
	}
}

func testbinCommand(args ...string) *exec.Cmd { return exec.Command(serverBin, args...) }

func TestLogRequests(t *testing.T) {
	p := startServer(t, "-root", fixture(t), "-log-requests")
	get(t, p.URL+"/hello.txt?x=1")
	get(t, p.URL+"/big.bin")
	get(t, p.URL+"/missing")
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(p.Stderr(), `"GET /missing HTTP/1.1" 404`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	log := p.Stderr()
	for _, want := range []string{`"GET /hello.txt?x=1 HTTP/1.1" 200 6 `, `"GET /missing HTTP/1.1" 404 `, `"GET /big.bin HTTP/1.1" 200 1048576 `} {
		if !strings.Contains(log, want) {
			t.Errorf("request log lacks %q:\n%s", want, log)
		}
	}
	quiet := startServer(t, "-root", fixture(t))
	get(t, quiet.URL+"/hello.txt")
	time.Sleep(100 * time.Millisecond)
	if quiet.Stderr() != "" {
		t.Errorf("without -log-requests the server logged %q", quiet.Stderr())
	}
}
