// Package download fetches one URL to a file the way curl -o and wget do:
// following redirects, writing NAME.part and renaming it only once the body
// is complete, resuming a .part with a Range request, and reporting every
// failure with a distinct exit status.
package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit statuses of DESIGN.md, plus 130 for an interrupt (as shells report
// SIGINT).
const (
	ExitOK          = 0
	ExitUsage       = 2
	ExitHTTP        = 3
	ExitNetwork     = 4
	ExitFile        = 5
	ExitRedirects   = 6
	ExitInterrupted = 130
)

// Error is a failed download with the exit status it maps to.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(code int, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Options configure a download.
type Options struct {
	Output         string        // file name, "-" for stdout, "" for the URL's base name
	Quiet, Verbose bool          // no progress and notes; request and response headers
	MaxRedirects   int           // redirects followed before giving up
	Timeout        time.Duration // whole transfer, 0 for none
	ConnectTimeout time.Duration // TCP connect (and TLS handshake)
	IdleTimeout    time.Duration // longest wait for the next bytes
	Resume         bool          // continue NAME.part with a Range request
	Stdout, Stderr io.Writer
	// Progress, when not nil, wraps the body reader to show progress; it
	// gets the expected size (-1 when unknown) and the bytes already there.
	Progress func(r io.Reader, size, done int64) io.ReadCloser
}

// Result describes a saved download.
type Result struct {
	Path  string
	Bytes int64 // bytes in the saved file
	URL   string
}

// FileName returns the name under which the body of u is saved by default:
// the decoded last segment of its path, reduced so that it cannot name
// anything outside the current directory ("index.html" for "/", ".", ".."
// and empty names; separators and control characters become "_").
func FileName(u *url.URL) string {
	p := u.EscapedPath()
	seg := p[strings.LastIndexByte(p, '/')+1:]
	name, err := url.PathUnescape(seg)
	if err != nil {
		name = seg
	}
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f || r == 0xfffd {
			return '_'
		}
		return r
	}, name)
	if len(name) > 200 {
		name = name[:200]
	}
	if strings.Trim(name, ". ") == "" {
		return "index.html"
	}
	return name
}

// ParseURL parses and checks a URL given on the command line.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", s, err)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", s, err)
	}
	return u, nil
}

// checkURL accepts only http and https URLs with a host, for the command
// line and for every Location followed.
func checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("only http and https are supported")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func isRedirect(code int) bool {
	switch code {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// Run downloads rawURL as opt says.
func Run(ctx context.Context, rawURL string, opt Options) (*Result, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, &Error{Code: ExitUsage, Err: err}
	}
	if opt.Output == "-" && opt.Resume {
		return nil, fail(ExitUsage, "-c cannot resume standard output")
	}
	if opt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
	}
	d := &downloader{opt: opt, client: newClient(opt)}
	final := opt.Output
	if final == "" {
		final = FileName(u)
	} else if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		final = filepath.Join(final, FileName(u))
	}
	if final == "-" {
		resp, cancel, err := d.follow(ctx, u, 0)
		if err != nil {
			return nil, err
		}
		defer cancel()
		defer resp.Body.Close()
		if _, err := d.check(resp, 0); err != nil {
			return nil, err
		}
		n, err := d.copy(ctx, resp, os.Stdout, 0)
		if err != nil {
			return nil, err
		}
		return &Result{Path: "-", Bytes: n, URL: u.String()}, nil
	}
	return d.toFile(ctx, u, final)
}

type downloader struct {
	opt    Options
	client *http.Client
}

func newClient(opt Options) *http.Client {
	ct := opt.ConnectTimeout
	if ct == 0 {
		ct = 10 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: ct, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   ct,
		ResponseHeaderTimeout: idle(opt),
		DisableCompression:    true, // save the bytes the server sends
		ReadBufferSize:        64 << 10,
		WriteBufferSize:       16 << 10,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func idle(opt Options) time.Duration {
	if opt.IdleTimeout > 0 {
		return opt.IdleTimeout
	}
	return 30 * time.Second
}

// toFile downloads into final via final.part. The .part is created only
// once a 2xx body starts, so failures before that leave nothing behind.
func (d *downloader) toFile(ctx context.Context, u *url.URL, final string) (*Result, error) {
	part := final + ".part"
	if fi, err := os.Stat(filepath.Dir(part)); err != nil || !fi.IsDir() {
		return nil, fail(ExitFile, "cannot save to %s: directory %s does not exist", final, filepath.Dir(part))
	}
	var offset int64
	if d.opt.Resume {
		if fi, err := os.Stat(part); err == nil && fi.Mode().IsRegular() {
			offset = fi.Size()
		}
	}
	resp, cancel, err := d.follow(ctx, u, offset)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	start, err := d.check(resp, offset)
	if errors.Is(err, errComplete) {
		return d.finish(part, final, offset, u)
	}
	if err != nil {
		return nil, err
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if start == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return nil, &Error{Code: ExitFile, Err: err}
	}
	n, err := d.copy(ctx, resp, f, start)
	if err != nil {
		f.Sync() // keep what arrived for -c
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, &Error{Code: ExitFile, Err: err}
	}
	if err := f.Close(); err != nil {
		return nil, &Error{Code: ExitFile, Err: err}
	}
	return d.finish(part, final, start+n, u)
}

func (d *downloader) finish(part, final string, size int64, u *url.URL) (*Result, error) {
	if err := os.Rename(part, final); err != nil {
		return nil, &Error{Code: ExitFile, Err: err}
	}
	if dir, err := os.Open(filepath.Dir(final)); err == nil {
		dir.Sync() // make the rename durable
		dir.Close()
	}
	return &Result{Path: final, Bytes: size, URL: u.String()}, nil
}

// errComplete reports that a resumed .part already holds the whole file.
var errComplete = errors.New("already complete")

// follow sends GET u (with Range from offset when offset > 0) and follows
// redirects; it returns the first response that is not a redirect.
func (d *downloader) follow(ctx context.Context, u *url.URL, offset int64) (*http.Response, context.CancelFunc, error) {
	seen := map[string]bool{u.String(): true}
	for hops := 0; ; hops++ {
		resp, cancel, err := d.get(ctx, u, offset)
		if err != nil {
			return nil, nil, err
		}
		if !isRedirect(resp.StatusCode) {
			return resp, cancel, nil
		}
		resp.Body.Close()
		cancel()
		loc := resp.Header.Get("Location")
		if loc == "" {
			return nil, nil, fail(ExitHTTP, "%s: %d without a Location header", u, resp.StatusCode)
		}
		next, err := u.Parse(loc)
		if err != nil {
			return nil, nil, fail(ExitHTTP, "bad Location %q: %v", loc, err)
		}
		if err := checkURL(next); err != nil {
			return nil, nil, fail(ExitHTTP, "refusing redirect to %q: %v", loc, err)
		}
		next.Fragment = ""
		if !d.opt.Quiet {
			fmt.Fprintf(d.opt.Stderr, "%d -> %s\n", resp.StatusCode, next)
		}
		if seen[next.String()] {
			return nil, nil, fail(ExitRedirects, "redirect loop: %s was already visited", next)
		}
		if hops+1 > d.opt.MaxRedirects {
			return nil, nil, fail(ExitRedirects, "too many redirects (more than %d)", d.opt.MaxRedirects)
		}
		seen[next.String()] = true
		u = next
	}
}

// get sends one GET. The returned cancel ends the request (and its idle
// timer).
func (d *downloader) get(ctx context.Context, u *url.URL, offset int64) (*http.Response, context.CancelFunc, error) {
	rctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(rctx, "GET", u.String(), nil)
	if err != nil {
		cancel()
		return nil, nil, fail(ExitUsage, "bad URL %q: %v", u, err)
	}
	req.Header.Set("User-Agent", "ricochet-client/1")
	req.Header.Set("Accept", "*/*")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	if d.opt.Verbose {
		fmt.Fprintf(d.opt.Stderr, "> GET %s HTTP/1.1\n> Host: %s\n", req.URL.RequestURI(), req.URL.Host)
		printHeaders(d.opt.Stderr, "> ", req.Header)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		cancel()
		return nil, nil, networkError(ctx, err)
	}
	if d.opt.Verbose {
		fmt.Fprintf(d.opt.Stderr, "< %s %s\n", resp.Proto, resp.Status)
		printHeaders(d.opt.Stderr, "< ", resp.Header)
	}
	return resp, cancel, nil
}

func printHeaders(w io.Writer, prefix string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(w, "%s%s: %s\n", prefix, k, v)
		}
	}
	fmt.Fprintln(w, strings.TrimSpace(prefix))
}

// check validates the final response for a download from offset and
// returns the offset the body starts at: offset for a matching 206, 0 when
// the server sent the whole file instead.
func (d *downloader) check(resp *http.Response, offset int64) (int64, error) {
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		if total, ok := rangeTotal(resp.Header.Get("Content-Range")); ok && total == offset {
			return 0, errComplete
		}
		return 0, d.httpError(resp)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return 0, d.httpError(resp)
	case offset == 0:
		return 0, nil
	case resp.StatusCode == http.StatusPartialContent:
		start, _, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			return 0, fail(ExitHTTP, "server answered Range bytes=%d- with Content-Range %q", offset, resp.Header.Get("Content-Range"))
		}
		return offset, nil
	default:
		if !d.opt.Quiet {
			fmt.Fprintln(d.opt.Stderr, "server ignored the range request: downloading from the start")
		}
		return 0, nil
	}
}

// copy writes the body to w, failing when the connection stays idle too
// long or the body is shorter than its Content-Length. done is the number
// of bytes of the file already there (for the progress bar).
func (d *downloader) copy(ctx context.Context, resp *http.Response, w io.Writer, done int64) (int64, error) {
	idleFor := idle(d.opt)
	timer := time.AfterFunc(idleFor, func() { resp.Body.Close() })
	defer timer.Stop()
	var r io.Reader = &idleReader{r: resp.Body, timer: timer, d: idleFor}
	if d.opt.Progress != nil {
		size := resp.ContentLength
		if size >= 0 {
			size += done
		}
		pr := d.opt.Progress(r, size, done)
		defer pr.Close()
		r = pr
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(onlyWriter{w}, r, buf)
	if err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return n, &Error{Code: ExitFile, Err: we.err}
		}
		if !timer.Stop() && ctx.Err() == nil {
			return n, fail(ExitNetwork, "no data for %v: giving up after %d bytes", idleFor, done+n)
		}
		return n, networkError(ctx, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fail(ExitNetwork, "body ended after %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// httpError reports an error status with its status line and body.
func (d *downloader) httpError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := fmt.Sprintf("%s %s", resp.Proto, resp.Status)
	if len(body) > 0 {
		msg += "\n" + strings.TrimRight(string(body), "\n")
	}
	return &Error{Code: ExitHTTP, Err: errors.New(msg)}
}

// networkError maps a transport error to exit status 4, or 130 when the
// user interrupted.
func networkError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Error{Code: ExitInterrupted, Err: errors.New("interrupted")}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Code: ExitNetwork, Err: errors.New("timed out (-timeout)")}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Code: ExitNetwork, Err: fmt.Errorf("connection refused")}
	case errors.Is(err, syscall.ECONNRESET):
		return &Error{Code: ExitNetwork, Err: fmt.Errorf("connection reset by peer")}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Code: ExitNetwork, Err: fmt.Errorf("connection closed before the body was complete")}
	}
	return &Error{Code: ExitNetwork, Err: err}
}

func parseContentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}

func rangeTotal(v string) (int64, bool) {
	tot, found := strings.CutPrefix(v, "bytes */")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(tot, 10, 64)
	return n, err == nil
}

// idleReader pushes back the idle timer on every read.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.d)
	}
	return n, err
}

// onlyWriter hides ReadFrom so write errors can be told from read errors.
type onlyWriter struct{ w io.Writer }

type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

func (o onlyWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		return n, &writeError{err}
	}
	return n, nil
}
