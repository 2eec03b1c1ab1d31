package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

var clientBin, serverBin string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{"client": &clientBin, "server": &serverBin})
}

type run struct {
	code           int
	stdout, stderr string
	dir            string
}

// client runs the client in a fresh working directory inside a parent that
// is also checked, so a file written outside the working directory shows.
func client(t *testing.T, args ...string) run {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "cwd")
	os.Mkdir(dir, 0o755)
	return clientIn(t, dir, args...)
}

func clientIn(t *testing.T, dir string, args ...string) run {
	t.Helper()
	cmd := exec.Command(clientBin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return run{code: code, stdout: out.String(), stderr: errb.String(), dir: dir}
}

// files lists the regular files under the run's parent directory.
func (r run) files(t *testing.T) []string {
	t.Helper()
	var out []string
	parent := filepath.Dir(r.dir)
	filepath.Walk(parent, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(parent, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func (r run) expect(t *testing.T, code int, files ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstderr: %s", r.code, code, r.stderr)
	}
	got := r.files(t)
	want := make([]string, len(files))
	for i, f := range files {
		want[i] = filepath.Join("cwd", f)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

func realServer(t *testing.T, args ...string) (*testbin.Proc, []byte) {
	t.Helper()
	root := t.TempDir()
	data := make([]byte, 3<<20+123)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	os.WriteFile(filepath.Join(root, "big.bin"), data, 0o644)
	os.WriteFile(filepath.Join(root, "index.html"), []byte("<h1>home</h1>"), 0o644)
	p := testbin.Start(t, "", serverBin, append([]string{"-addr", "127.0.0.1:0", "-root", root}, args...)...)
	return p, data
}

func TestDownloadFromRealServer(t *testing.T) {
	p, data := realServer(t)
	r := client(t, p.URL+"/big.bin")
	r.expect(t, 0, "big.bin")
	got, _ := os.ReadFile(filepath.Join(r.dir, "big.bin"))
	if sum(got) != sum(data) {
		t.Errorf("saved %d bytes, not identical to the served %d", len(got), len(data))
	}
	r = client(t, "-q", p.URL+"/")
	r.expect(t, 0, "index.html")
	if r.stderr != "" {
		t.Errorf("-q printed %q", r.stderr)
	}
	r = client(t, "-o", "-", p.URL+"/index.html")
	r.expect(t, 0)
	if r.stdout != "<h1>home</h1>" {
		t.Errorf("-o - wrote %q", r.stdout)
	}
	r = client(t, "-o", "renamed.dat", p.URL+"/big.bin")
	r.expect(t, 0, "renamed.dat")
	r = client(t, "-v", "-q", p.URL+"/index.html")
	if !strings.Contains(r.stderr, "> GET /index.html HTTP/1.1") || !strings.Contains(r.stderr, "< HTTP/1.1 200 OK") {
		t.Errorf("-v stderr %q", r.stderr)
	}
}

func TestFollowsRedirects(t *testing.T) {
	p, data := realServer(t)
	var hops int
	mux := http.NewServeMux()
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop2", 302) })
	mux.HandleFunc("/loop2", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", 302) })
	mux.HandleFunc("/chain/", func(w http.ResponseWriter, r *http.Request) {
		hops++
		http.Redirect(w, r, fmt.Sprintf("/chain/%d", hops), 307)
	})
	mux.HandleFunc("/ftp", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "ftp://x/y", 301) })
	mux.HandleFunc("/escape/file.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", p.URL+"/../../../big.bin")
		w.WriteHeader(301)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", p.URL+"/big.bin")
		w.WriteHeader(301)
	})
	lb := httptest.NewServer(mux)
	defer lb.Close()

	r := client(t, lb.URL+"/big.bin")
	r.expect(t, 0, "big.bin")
	if !strings.Contains(r.stderr, "301 -> "+p.URL+"/big.bin") {
		t.Errorf("hop not printed: %q", r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(r.dir, "big.bin")); sum(got) != sum(data) {
		t.Error("file via redirect differs")
	}
	client(t, lb.URL+"/loop").expect(t, 6)
	client(t, "-max-redirects", "3", lb.URL+"/chain/x").expect(t, 6)
	client(t, lb.URL+"/ftp").expect(t, 3)
	// The saved name comes from the requested URL, never from the Location.
	client(t, lb.URL+"/escape/file.bin").expect(t, 0, "file.bin")
}

func TestFileNamesStayInTheDirectory(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "body") }))
	defer srv.Close()
	tests := []struct{ path, want string }{
		{"/", "index.html"},
		{"/dir/", "index.html"},
		{"/%2e%2e", "index.html"},
		{"/.", "index.html"},
		{"/a/%2e%2e%2f%2e%2e%2fetc%2fx", ".._.._etc_x"},
		{"/..%2f..%2fx", ".._.._x"},
		{"/%2fetc%2fpasswd", "_etc_passwd"},
		{"/a%5c..%5cb", "a_.._b"},
		{"/name%00.txt", "name_.txt"},
		{"/x.txt?y=../../z", "x.txt"},
		{"/caf%C3%A9.txt", "café.txt"},
	}
	for _, tt := range tests {
		r := client(t, "-q", srv.URL+tt.path)
		r.expect(t, 0, tt.want)
	}
}

func TestBrokenServers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/short.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 1000))
		// the handler returns: net/http closes the connection mid-body
	})
	mux.HandleFunc("/reset.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 64<<10))
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	})
	for _, code := range []int{404, 501, 503} {
		mux.HandleFunc(fmt.Sprintf("/%d.bin", code), func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, fmt.Sprintf("the body of a %d", code), code)
		})
	}
	mux.HandleFunc("/slow.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client(t, srv.URL+"/short.bin").expect(t, 4, "short.bin.part")
	client(t, srv.URL+"/reset.bin").expect(t, 4, "reset.bin.part")
	for _, code := range []int{404, 501, 503} {
		r := client(t, fmt.Sprintf("%s/%d.bin", srv.URL, code))
		r.expect(t, 3)
		if !strings.Contains(r.stderr, fmt.Sprintf("HTTP/1.1 %d", code)) || !strings.Contains(r.stderr, fmt.Sprintf("the body of a %d", code)) {
			t.Errorf("%d: stderr %q lacks the status line or body", code, r.stderr)
		}
	}
	start := time.Now()
	client(t, "-timeout", "500ms", srv.URL+"/slow.bin").expect(t, 4, "slow.bin.part")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("-timeout 500ms took %v", el)
	}
	// Nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	client(t, "http://"+addr+"/x").expect(t, 4)
}

func TestResume(t *testing.T) {
	p, data := realServer(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "cwd")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "big.bin.part"), data[:1<<20], 0o644)
	r := clientIn(t, dir, "-c", p.URL+"/big.bin")
	r.expect(t, 0, "big.bin")
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); sum(got) != sum(data) {
		t.Error("resumed file differs")
	}
	// A complete .part: the server answers 416 and the file is just renamed.
	os.Remove(filepath.Join(dir, "big.bin"))
	os.WriteFile(filepath.Join(dir, "big.bin.part"), data, 0o644)
	clientIn(t, dir, "-c", p.URL+"/big.bin").expect(t, 0, "big.bin")

	// A server that ignores Range: the junk in the .part is discarded.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
	}))
	defer plain.Close()
	os.Remove(filepath.Join(dir, "big.bin"))
	os.WriteFile(filepath.Join(dir, "big.bin.part"), []byte("junk that must not stay"), 0o644)
	r = clientIn(t, dir, "-c", plain.URL+"/big.bin")
	r.expect(t, 0, "big.bin")
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); sum(got) != sum(data) {
		t.Error("restart after an ignored Range left junk")
	}
}

func TestInterruptKeepsPartAndResumes(t *testing.T) {
	p, data := realServer(t, "-rate", "1MiB")
	parent := t.TempDir()
	dir := filepath.Join(parent, "cwd")
	os.Mkdir(dir, 0o755)
	cmd := exec.Command(clientBin, "-q", p.URL+"/big.bin")
	cmd.Dir = dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v, want exit 130; stderr %q", err, errb.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "big.bin.part"))
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(data)) {
		t.Fatalf("after SIGINT: .part %v %v, want a partial file", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "big.bin")); err == nil {
		t.Fatal("final name exists after an interrupted download")
	}
	fast, _ := realServer(t)
	// Serve the same bytes from a fast server to finish quickly.
	r := clientIn(t, dir, "-c", "-q", fast.URL+"/big.bin")
	r.expect(t, 0, "big.bin")
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); sum(got) != sum(data) {
		t.Error("file resumed after SIGINT differs")
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"a", "b"}, 2},
		{[]string{"-nope", "http://x/"}, 2},
		{[]string{"ftp://example.test/x"}, 2},
		{[]string{"not a url"}, 2},
		{[]string{"http:///nohost"}, 2},
		{[]string{"-c", "-o", "-", "http://127.0.0.1:1/x"}, 2},
		{[]string{"-o", "/nonexistent-dir/x/y", "http://127.0.0.1:1/x"}, 5},
	}
	for _, tt := range tests {
		client(t, tt.args...).expect(t, tt.code)
	}
}
