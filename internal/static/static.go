// Package static serves the files under one directory over HTTP with
// fasthttp: path safety, error pages, validators, ranges, conditional
// requests, and an in-memory cache of small files.
package static

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"ricochet/internal/pace"
	"ricochet/internal/pages"
)

// ProbeFile is the file the balancer downloads to measure a backend.
const ProbeFile = "performanceTest.html"

const (
	// smallFile is the size up to which a file's bytes are kept in memory.
	smallFile = 256 << 10
	// cacheBytes and cacheEntries bound the memory the cache may hold.
	cacheBytes   = 64 << 20
	cacheEntries = 8192
	// revalidate is how long a cached entry is trusted before a stat.
	revalidate = time.Second
)

// Options configure a Handler.
type Options struct {
	Root      string        // directory to serve
	Pages     *pages.Set    // error pages (404, 501, 505, ...)
	Rate      int64         // bytes per second per response, 0 for no cap
	Delay     time.Duration // wait before each response
	ProbeSize int64         // size of the built-in performanceTest.html
	Log       io.Writer     // request log, nil for none
}

// Handler serves a directory. It is safe for concurrent use.
type Handler struct {
	opt   Options
	root  *os.Root
	probe *entry

	mu      sync.RWMutex
	cache   map[string]*entry
	cached  int64 // bytes of file data held in cache
	logMu   sync.Mutex
	allowed []byte
}

// entry is what the handler knows of one servable file. Entries are
// immutable once published, except for the time of their last check.
type entry struct {
	rel          string // path under the root, "" for the built-in probe file
	size         int64
	modTime      time.Time
	lastModified []byte
	etag         []byte
	ctype        []byte
	data         []byte // whole content for small files, nil otherwise
	checked      atomic.Int64
}

// New returns a Handler for opt.Root. The root must exist and be a directory.
func New(opt Options) (*Handler, error) {
	fi, err := os.Stat(opt.Root)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("root %s: not a directory", opt.Root)
	}
	root, err := os.OpenRoot(opt.Root)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	h := &Handler{opt: opt, root: root, cache: make(map[string]*entry), allowed: []byte("GET, HEAD")}
	h.probe = builtinProbe(opt.ProbeSize)
	return h, nil
}

// Close releases the root directory.
func (h *Handler) Close() error { return h.root.Close() }

// builtinProbe returns the performance test page served when the root has
// none: valid HTML padded to exactly size bytes.
func builtinProbe(size int64) *entry {
	head := "<!DOCTYPE html>\n<html><head><title>ricochet performance test</title></head><body>\n<pre>\n"
	tail := "\n</pre>\n</body></html>\n"
	var b bytes.Buffer
	b.Grow(int(size))
	if size >= int64(len(head)+len(tail)) {
		b.WriteString(head)
		line := "ricochet performance test payload 0123456789 abcdefghijklmnopqrstuvwxyz\n"
		for int64(b.Len()+len(line)+len(tail)) <= size {
			b.WriteString(line)
		}
		for int64(b.Len()+len(tail)) < size {
			b.WriteByte('.')
		}
		b.WriteString(tail)
	} else {
		b.Write(bytes.Repeat([]byte("."), int(size)))
	}
	mod := time.Now().Truncate(time.Second)
	return &entry{
		size:         size,
		modTime:      mod,
		lastModified: []byte(mod.UTC().Format(http.TimeFormat)),
		etag:         []byte(fmt.Sprintf(`"probe-%x"`, size)),
		ctype:        []byte("text/html; charset=utf-8"),
		data:         b.Bytes(),
	}
}

// Serve is the fasthttp request handler.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	if h.opt.Log != nil {
		defer h.logRequest(ctx, time.Now())
	}
	proto := ctx.Request.Header.Protocol()
	if string(proto) != "HTTP/1.1" && string(proto) != "HTTP/1.0" {
		h.fail(ctx, fasthttp.StatusHTTPVersionNotSupported)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.SetBytesV("Allow", h.allowed)
		h.fail(ctx, fasthttp.StatusNotImplemented)
		return
	}
	if h.opt.Delay > 0 {
		time.Sleep(h.opt.Delay)
	}
	raw := ctx.URI().PathOriginal()
	e := h.lookup(raw)
	if e == nil {
		var status int
		if e, status = h.load(ctx, raw); e == nil {
			if status != 0 {
				h.fail(ctx, status)
			}
			return
		}
	}
	h.serveEntry(ctx, e)
}

// lookup returns the cached entry for a raw path if it is still fresh.
func (h *Handler) lookup(raw []byte) *entry {
	h.mu.RLock()
	e := h.cache[string(raw)]
	h.mu.RUnlock()
	if e == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if now-e.checked.Load() < int64(revalidate) {
		return e
	}
	if h.stillValid(e) {
		e.checked.Store(now)
		return e
	}
	h.mu.Lock()
	if h.cache[string(raw)] == e {
		delete(h.cache, string(raw))
		h.cached -= int64(len(e.data))
	}
	h.mu.Unlock()
	return nil
}

// stillValid reports whether the file behind e is unchanged on disk.
func (h *Handler) stillValid(e *entry) bool {
	if e.rel == "" { // the built-in probe holds until a real file appears
		_, err := h.root.Stat(ProbeFile)
		return err != nil
	}
	fi, err := h.root.Stat(e.rel)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == e.size && fi.ModTime().Equal(e.modTime)
}

// load resolves raw, reads what it names and caches the entry. When it
// returns no entry, status is the error to answer, or 0 when a response was
// already written (a redirect to a directory's canonical path).
func (h *Handler) load(ctx *fasthttp.RequestCtx, raw []byte) (*entry, int) {
	rel, status := Resolve(raw)
	if status != 0 {
		return nil, status
	}
	fi, err := h.root.Stat(rel)
	if err == nil && fi.IsDir() {
		if !bytes.HasSuffix(raw, []byte("/")) {
			h.redirectToDir(ctx, rel)
			return nil, 0
		}
		rel = path.Join(rel, "index.html")
		fi, err = h.root.Stat(rel)
	}
	// Every failure to open a name (missing, forbidden, escaping the root
	// through a symlink, too long) answers 404: nothing about the file
	// system leaks.
	var e *entry
	switch {
	case err == nil && fi.Mode().IsRegular():
		if e, err = h.newEntry(rel, fi); err != nil {
			return nil, fasthttp.StatusNotFound
		}
	case rel == ProbeFile && errors.Is(err, fs.ErrNotExist):
		e = h.probe
	case err == nil:
		return nil, fasthttp.StatusNotFound // devices, sockets, pipes
	default:
		return nil, fasthttp.StatusNotFound
	}
	e.checked.Store(time.Now().UnixNano())
	h.mu.Lock()
	if len(h.cache) < cacheEntries && h.cached+int64(len(e.data)) <= cacheBytes {
		if old := h.cache[string(raw)]; old != nil {
			h.cached -= int64(len(old.data))
		}
		h.cache[string(raw)] = e
		h.cached += int64(len(e.data))
	}
	h.mu.Unlock()
	return e, 0
}

// newEntry builds the entry for a regular file, reading it when small.
func (h *Handler) newEntry(rel string, fi fs.FileInfo) (*entry, error) {
	e := newMeta(rel, fi)
	if e.size <= smallFile {
		data, err := h.root.ReadFile(rel)
		if err != nil {
			return nil, err
		}
		e.size = int64(len(data)) // it may have changed since the stat
		e.data = data
	}
	return e, nil
}

// newMeta describes a regular file without reading it.
func newMeta(rel string, fi fs.FileInfo) *entry {
	ctype := mime.TypeByExtension(path.Ext(rel))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return &entry{
		rel:          rel,
		size:         fi.Size(),
		modTime:      fi.ModTime(),
		lastModified: []byte(fi.ModTime().UTC().Format(http.TimeFormat)),
		etag:         []byte(fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano())),
		ctype:        []byte(ctype),
	}
}

// redirectToDir answers a directory requested without its trailing slash,
// as nginx does, so relative links in its index.html resolve.
func (h *Handler) redirectToDir(ctx *fasthttp.RequestCtx, rel string) {
	var b strings.Builder
	for _, seg := range strings.Split(rel, "/") {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	b.WriteByte('/')
	if q := ctx.URI().QueryString(); len(q) > 0 {
		b.WriteByte('?')
		b.Write(q)
	}
	ctx.Response.Header.Set("Location", b.String())
	ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
}

var (
	hdrLastModified = []byte("Last-Modified")
	hdrETag         = []byte("ETag")
	hdrAcceptRanges = []byte("Accept-Ranges")
	hdrContentRange = []byte("Content-Range")
	valBytes        = []byte("bytes")
)

// serveEntry writes the response for a resolved file.
func (h *Handler) serveEntry(ctx *fasthttp.RequestCtx, e *entry) {
	var f *os.File
	if e.data == nil {
		var err error
		if f, e, err = h.openLarge(ctx, e); err != nil {
			h.fail(ctx, fasthttp.StatusNotFound)
			return
		}
	}
	rh := &ctx.Response.Header
	rh.SetCanonical(hdrLastModified, e.lastModified)
	rh.SetCanonical(hdrETag, e.etag)
	rh.SetCanonical(hdrAcceptRanges, valBytes)
	if status := precondition(&ctx.Request.Header, e); status != 0 {
		closeFile(f)
		ctx.SetStatusCode(status)
		return
	}
	rh.SetContentTypeBytes(e.ctype)
	start, end := int64(0), e.size-1
	if rv := ctx.Request.Header.Peek("Range"); len(rv) > 0 && ifRangeHolds(&ctx.Request.Header, e) {
		s, en, ok, satisfiable := parseRange(rv, e.size)
		if ok && !satisfiable {
			closeFile(f)
			rh.SetCanonical(hdrContentRange, []byte("bytes */"+strconv.FormatInt(e.size, 10)))
			h.fail(ctx, fasthttp.StatusRequestedRangeNotSatisfiable)
			return
		}
		if ok {
			start, end = s, en
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			rh.SetCanonical(hdrContentRange, fmt.Appendf(nil, "bytes %d-%d/%d", s, en, e.size))
		}
	}
	n := end - start + 1
	if ctx.IsHead() {
		closeFile(f)
		ctx.Response.SkipBody = true
		rh.SetContentLength(int(n))
		return
	}
	var body io.Reader
	if f == nil {
		if h.opt.Rate == 0 {
			ctx.Response.SetBodyRaw(e.data[start : end+1])
			return
		}
		body = bytes.NewReader(e.data[start : end+1])
	} else {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			f.Close()
			h.fail(ctx, fasthttp.StatusInternalServerError)
			return
		}
		// A bare *os.File lets fasthttp hand the body to sendfile; it bounds
		// the copy to n bytes and closes the file when done.
		body = f
	}
	if h.opt.Rate > 0 {
		body = pace.NewReader(body, h.opt.Rate)
	}
	ctx.SetBodyStream(body, int(n))
}

// openLarge opens the file behind an uncached-body entry. When the file
// changed since e was made, it returns a fresh entry describing the open file
// and drops the stale one from the cache, so headers and body always agree.
func (h *Handler) openLarge(ctx *fasthttp.RequestCtx, e *entry) (*os.File, *entry, error) {
	f, err := h.root.Open(e.rel)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	if fi.Size() == e.size && fi.ModTime().Equal(e.modTime) {
		return f, e, nil
	}
	h.mu.Lock()
	if h.cache[string(ctx.URI().PathOriginal())] == e {
		delete(h.cache, string(ctx.URI().PathOriginal()))
	}
	h.mu.Unlock()
	fresh := newMeta(e.rel, fi)
	return f, fresh, nil
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// fail answers status with its page (no body for HEAD).
func (h *Handler) fail(ctx *fasthttp.RequestCtx, status int) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	if ctx.IsHead() {
		return
	}
	ctx.SetBody(h.opt.Pages.Get(status).Bytes())
}

// logRequest writes one line per request in the common log format.
func (h *Handler) logRequest(ctx *fasthttp.RequestCtx, start time.Time) {
	// Bytes of body sent: a stream's declared length, else the body held
	// (Body() must not be called on a stream: it would read it).
	size := ctx.Response.Header.ContentLength()
	if !ctx.Response.IsBodyStream() {
		size = len(ctx.Response.Body())
	}
	line := fmt.Sprintf("%s - - [%s] %q %d %d %s\n",
		ctx.RemoteIP(), start.Format("02/Jan/2006:15:04:05 -0700"),
		string(ctx.Method())+" "+string(ctx.RequestURI())+" "+string(ctx.Request.Header.Protocol()),
		ctx.Response.StatusCode(), size, time.Since(start).Round(time.Microsecond))
	h.logMu.Lock()
	io.WriteString(h.opt.Log, line)
	h.logMu.Unlock()
}
