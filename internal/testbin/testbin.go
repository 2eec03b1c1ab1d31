// Package testbin builds ricochet's real binaries for end-to-end tests and
// runs them as child processes, reading the "listening on" line they print.
package testbin

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the given main packages (e.g. "server") of the module into
// a fresh temporary directory and returns it. Call it once from TestMain.
func Build(pkgs ...string) (dir string, err error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err = os.MkdirTemp("", "ricochet-bin-")
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if os.Getenv("RICOCHET_RACE") != "" { // end-to-end tests of race-enabled binaries
		args = append(args, "-race")
	}
	for _, p := range pkgs {
		args = append(args, "./"+p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build %v: %v\n%s", pkgs, err, out)
	}
	return dir, nil
}

// Main is a TestMain body: it builds the programs named by bins' keys,
// stores each binary's path through the pointer, runs the tests, removes the
// binaries and exits with the tests' status.
func Main(m *testing.M, bins map[string]*string) {
	var pkgs []string
	for name := range bins {
		pkgs = append(pkgs, name)
	}
	dir, err := Build(pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, p := range bins {
		*p = filepath.Join(dir, name)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ModuleRoot returns the directory of go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Proc is a running program started by Start.
type Proc struct {
	Cmd  *exec.Cmd
	URL  string // from the "listening on" line, e.g. http://127.0.0.1:4321
	Addr string // host:port of URL

	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// Start runs bin with args in dir (the current directory when empty), waits
// up to 15 s for its "listening on" line and stops the process when the test
// ends.
func Start(t testing.TB, dir, bin string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	p := &Proc{Cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if strings.Contains(p.Stderr(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", filepath.Base(bin), p.Stderr())
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads: drop rather than block the child
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	line, err := p.Line(15 * time.Second)
	if err != nil {
		t.Fatalf("%s: %v; stderr:\n%s", filepath.Base(bin), err, p.Stderr())
	}
	url, ok := strings.CutPrefix(line, "listening on ")
	if !ok {
		t.Fatalf("%s: first line %q, want \"listening on http://HOST:PORT\"", filepath.Base(bin), line)
	}
	p.URL = url
	p.Addr = strings.TrimPrefix(url, "http://")
	if host, port, err := net.SplitHostPort(p.Addr); err == nil && host == "localhost" {
		p.Addr = net.JoinHostPort("127.0.0.1", port)
	}
	return p
}

// Line returns the next line the program printed on stdout.
func (p *Proc) Line(timeout time.Duration) (string, error) {
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.done:
		select {
		case l := <-p.lines:
			return l, nil
		default:
		}
		return "", fmt.Errorf("exited (%v) before printing a line", p.err)
	case <-time.After(timeout):
		return "", fmt.Errorf("no line within %v", timeout)
	}
}

// Stderr returns what the program wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Signal sends sig to the program.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits up to timeout for the program to exit and returns its exit code.
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		return -1, fmt.Errorf("still running after %v", timeout)
	}
}

// Kill stops the program with SIGKILL (if it still runs) and waits for it.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WriteConfigMap writes dir/name the way Kubernetes updates a mounted
// ConfigMap: the content goes into a fresh hidden version directory, a
// "..data" symlink is swapped to it with one rename, and dir/name is a
// symlink through ..data (created on the first call).
func WriteConfigMap(t testing.TB, dir, name, content string) {
	t.Helper()
	versions, _ := filepath.Glob(filepath.Join(dir, "..v*"))
	version := fmt.Sprintf("..v%d", len(versions)+1)
	if err := os.MkdirAll(filepath.Join(dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, version, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, name)
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
}

// Raw sends req as raw bytes to addr, half-closes nothing, and returns all
// bytes the server answered before closing the connection or going quiet for
// timeout.
func Raw(addr string, req []byte, timeout time.Duration) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() && out.Len() > 0 {
		err = nil
	}
	return out.Bytes(), err
}

// Status returns the status code of a raw HTTP response, or 0.
func Status(resp []byte) int {
	line, _, _ := bytes.Cut(resp, []byte("\r\n"))
	var proto string
	var code int
	if _, err := fmt.Sscanf(string(line), "%s %d", &proto, &code); err != nil {
		return 0
	}
	return code
}
