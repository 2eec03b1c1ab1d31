package static

import (
	"bytes"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// precondition evaluates the conditional request headers in the order of
// RFC 9110 section 13.2.2 and returns 0 to go on, 304 or 412.
func precondition(h *fasthttp.RequestHeader, e *entry) int {
	if im := h.Peek("If-Match"); len(im) > 0 {
		if !etagListMatch(im, e.etag, false) {
			return 412
		}
	} else if ius := h.Peek("If-Unmodified-Since"); len(ius) > 0 {
		if t, err := fasthttp.ParseHTTPDate(ius); err == nil && e.modTime.Truncate(time.Second).After(t) {
			return 412
		}
	}
	if inm := h.Peek("If-None-Match"); len(inm) > 0 {
		if etagListMatch(inm, e.etag, true) {
			return 304
		}
	} else if ims := h.Peek("If-Modified-Since"); len(ims) > 0 {
		if t, err := fasthttp.ParseHTTPDate(ims); err == nil && !e.modTime.Truncate(time.Second).After(t) {
			return 304
		}
	}
	return 0
}

// etagListMatch reports whether the comma-separated entity-tag list matches
// etag, using the weak comparison when weak is set and the strong one
// otherwise. "*" matches any current representation.
func etagListMatch(list, etag []byte, weak bool) bool {
	if string(bytes.TrimSpace(list)) == "*" {
		return true
	}
	for len(list) > 0 {
		var tag []byte
		tag, list, _ = bytes.Cut(list, []byte(","))
		tag = bytes.TrimSpace(tag)
		isWeak := bytes.HasPrefix(tag, []byte("W/"))
		if isWeak {
			if !weak {
				continue
			}
			tag = tag[2:]
		}
		if bytes.Equal(tag, etag) {
			return true
		}
	}
	return false
}

// ifRangeHolds reports whether a Range request may be honoured given its
// If-Range header: absent, a strongly matching ETag, or the exact
// Last-Modified date.
func ifRangeHolds(h *fasthttp.RequestHeader, e *entry) bool {
	ir := h.Peek("If-Range")
	if len(ir) == 0 {
		return true
	}
	if ir[0] == '"' {
		return bytes.Equal(ir, e.etag)
	}
	if bytes.HasPrefix(ir, []byte("W/")) {
		return false
	}
	t, err := fasthttp.ParseHTTPDate(ir)
	return err == nil && t.Equal(e.modTime.Truncate(time.Second))
}

// parseRange parses a single byte range against a resource of size bytes.
// ok is false when the header should be ignored (absent, malformed, several
// ranges: the full body is sent); satisfiable is false for a 416.
func parseRange(v []byte, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := bytes.CutPrefix(bytes.TrimSpace(v), []byte("bytes="))
	if !found || bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, false, false
	}
	first, last, found := bytes.Cut(bytes.TrimSpace(spec), []byte("-"))
	if !found {
		return 0, 0, false, false
	}
	if len(first) == 0 {
		n, err := strconv.ParseInt(string(last), 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	s, err := strconv.ParseInt(string(first), 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if len(last) > 0 {
		if e, err = strconv.ParseInt(string(last), 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true, false
	}
	return s, e, true, true
}
