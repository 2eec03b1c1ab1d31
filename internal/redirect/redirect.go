// Package redirect is the balancer's front end: it answers every request
// with a redirect to a backend chosen from the current pick table, or 503
// when none is healthy. It reads one atomically swapped State per request
// and takes no locks.
package redirect

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"ricochet/internal/pages"
	"ricochet/internal/pick"
	"ricochet/internal/policy"
)

// State is everything a request needs, published as one immutable value.
type State struct {
	Table      *pick.Table
	Policy     *policy.Policy // non-nil only when the policy defines pick
	Status     int            // redirect status, 301 by default
	Pages      *pages.Set     // 301.html ... 503.html
	RetryAfter int            // seconds, for 503

	page *pages.Page // Pages.Get(Status), resolved once by Store
}

// Front is the fasthttp handler. It is safe for concurrent use.
type Front struct {
	state atomic.Pointer[State]

	// Unavailable counts 503 answers.
	Unavailable atomic.Uint64
	// OnPickError receives errors of the policy's pick (it must not block).
	OnPickError func(error)
	// OnPick receives the duration of each pick call in seconds.
	OnPick func(seconds float64)

	pickFails    atomic.Int32 // consecutive pick failures
	pickOffUntil atomic.Int64 // unix nanoseconds; pick is skipped before it
}

// A pick that fails breakerFails times in a row is skipped for breakerPause:
// a broken pick costs its time limit on every request, and the weights are
// a good answer meanwhile.
const (
	breakerFails = 10
	breakerPause = time.Second
)

// Store publishes a new state; requests already running finish with the old.
// s must not be modified afterwards.
func (f *Front) Store(s *State) {
	s.page = s.Pages.Get(s.Status)
	f.state.Store(s)
}

var (
	hdrLocation     = []byte("Location")
	hdrCacheControl = []byte("Cache-Control")
	hdrRetryAfter   = []byte("Retry-After")
	valNoStore      = []byte("no-store")
	textHTML        = []byte("text/html; charset=utf-8")
)

// Serve answers one request.
func (f *Front) Serve(ctx *fasthttp.RequestCtx) {
	st := f.state.Load()
	if p := ctx.Request.Header.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		f.page(ctx, st, fasthttp.StatusHTTPVersionNotSupported)
		return
	}
	var t *pick.Target
	if st.Policy != nil {
		t = f.pickByPolicy(ctx, st)
	}
	if t == nil {
		t = st.Table.Random()
	}
	if t == nil {
		f.Unavailable.Add(1)
		ctx.Response.Header.SetCanonical(hdrRetryAfter, strconv.AppendInt(nil, int64(st.RetryAfter), 10))
		f.page(ctx, st, fasthttp.StatusServiceUnavailable)
		return
	}
	var buf [512]byte // most Locations fit: no allocation
	loc := AppendLocation(buf[:0], t.Origin, ctx.RequestURI())
	h := &ctx.Response.Header
	ctx.SetStatusCode(st.Status)
	h.SetCanonical(hdrLocation, loc)
	h.SetCanonical(hdrCacheControl, valNoStore)
	h.SetContentTypeBytes(textHTML)
	if !ctx.IsHead() {
		st.page.AppendBody(&ctx.Response, loc)
	}
	t.Redirects.Add(1)
}

// pickByPolicy asks the policy's pick for a backend and returns it if it is
// healthy; nil means "use the weights".
func (f *Front) pickByPolicy(ctx *fasthttp.RequestCtx, st *State) *pick.Target {
	if off := f.pickOffUntil.Load(); off != 0 && time.Now().UnixNano() < off {
		return nil
	}
	req := &policy.Request{
		Method:   string(ctx.Method()),
		Path:     string(ctx.URI().PathOriginal()),
		Query:    string(ctx.URI().QueryString()),
		Host:     string(ctx.Host()),
		ClientIP: ctx.RemoteIP().String(),
		Header:   func(name string) string { return string(ctx.Request.Header.Peek(name)) },
	}
	start := time.Now()
	name, err := st.Policy.Pick(req)
	if f.OnPick != nil {
		f.OnPick(time.Since(start).Seconds())
	}
	if err != nil {
		if f.pickFails.Add(1) >= breakerFails {
			f.pickFails.Store(0)
			f.pickOffUntil.Store(time.Now().Add(breakerPause).UnixNano())
			err = fmt.Errorf("%w (%d failures in a row: pick paused for %v)", err, breakerFails, breakerPause)
		}
		if f.OnPickError != nil {
			f.OnPickError(err)
		}
		return nil
	}
	f.pickFails.Store(0)
	if name == "" {
		return nil
	}
	return st.Table.Lookup(name)
}

// page answers status with its page and no caching.
func (f *Front) page(ctx *fasthttp.RequestCtx, st *State, status int) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoStore)
	ctx.Response.Header.SetContentTypeBytes(textHTML)
	if !ctx.IsHead() {
		st.Pages.Get(status).AppendBody(&ctx.Response, nil)
	}
}

// AppendLocation appends origin followed by the path and query of the raw
// request target to dst. Absolute-form targets keep only their path and
// query, so a client cannot choose the host; bytes that are not allowed
// unescaped in a URL (controls, space, non-ASCII, quotes, angle brackets,
// backslash, '#' ...) are percent-encoded, so the result never contains CR,
// LF or NUL and always stays under origin.
func AppendLocation(dst []byte, origin string, target []byte) []byte {
	dst = append(dst, origin...)
	if len(target) == 0 || target[0] != '/' {
		target = stripAuthority(target)
	}
	for _, c := range target {
		if mustEscape(c) {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// stripAuthority reduces an absolute-form or otherwise odd target to the
// part from its path on, "/" when it has none.
func stripAuthority(target []byte) []byte {
	for i := 0; i+2 < len(target); i++ {
		if target[i] == ':' && target[i+1] == '/' && target[i+2] == '/' {
			rest := target[i+3:]
			for j, c := range rest {
				if c == '/' || c == '?' {
					if c == '?' {
						return append([]byte("/"), rest[j:]...)
					}
					return rest[j:]
				}
			}
			return []byte("/")
		}
	}
	return []byte("/")
}

const hexDigits = "0123456789ABCDEF"

var escapeTable = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c <= ' ' || c >= 0x7f
	}
	for _, c := range []byte("\"<>\\^`{|}#") {
		t[c] = true
	}
	return t
}()

func mustEscape(c byte) bool { return escapeTable[c] }
