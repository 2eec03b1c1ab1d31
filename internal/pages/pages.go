// Package pages holds the HTML pages that ricochet's programs answer with:
// built-in copies embedded in the binary, optionally overridden from a
// directory chosen by the operator.
package pages

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fasthttp"
)

//go:embed builtin/*.html
var builtin embed.FS

// placeholder marks where a redirect page shows its target URL.
const placeholder = "{{location}}"

// Page is one HTML page, split around its {{location}} placeholders so the
// hot path appends the parts without parsing a template.
type Page struct {
	parts [][]byte
}

// Set maps a status code to its page. It is immutable after Load and safe for
// concurrent use.
type Set struct {
	pages map[int]*Page
}

// Load returns the built-in pages for codes, each replaced by dir/CODE.html
// when dir is not empty and holds that file. A missing override is not an
// error; an unreadable one is.
func Load(dir string, codes ...int) (*Set, error) {
	s := &Set{pages: make(map[int]*Page, len(codes))}
	for _, code := range codes {
		name := fmt.Sprintf("%d.html", code)
		data, err := builtin.ReadFile("builtin/" + name)
		if err != nil {
			return nil, fmt.Errorf("built-in page %s: %w", name, err)
		}
		if dir != "" {
			over, err := os.ReadFile(filepath.Join(dir, name))
			switch {
			case err == nil:
				data = over
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("page override: %w", err)
			}
		}
		s.pages[code] = newPage(data)
	}
	return s, nil
}

func newPage(data []byte) *Page {
	var parts [][]byte
	for _, p := range strings.Split(string(data), placeholder) {
		parts = append(parts, []byte(p))
	}
	return &Page{parts: parts}
}

// Get returns the page for code, or a minimal page when the set has none.
func (s *Set) Get(code int) *Page {
	if p, ok := s.pages[code]; ok {
		return p
	}
	return newPage([]byte(fmt.Sprintf("<!DOCTYPE html>\n<html><body><h1>%d</h1></body></html>\n", code)))
}

// Bytes returns the page with every placeholder left empty.
func (p *Page) Bytes() []byte {
	if len(p.parts) == 1 {
		return p.parts[0]
	}
	return bytes.Join(p.parts, nil)
}

// AppendBody appends the page to r's body with every placeholder replaced
// by the HTML-escaped location, without allocating for the common case.
func (p *Page) AppendBody(r *fasthttp.Response, location []byte) {
	if len(p.parts) == 1 {
		r.AppendBody(p.parts[0])
		return
	}
	esc := location
	if bytes.IndexByte(location, '&') >= 0 || bytes.IndexByte(location, '\'') >= 0 ||
		bytes.IndexByte(location, '<') >= 0 || bytes.IndexByte(location, '"') >= 0 {
		esc = []byte(html.EscapeString(string(location)))
	}
	for i, part := range p.parts {
		if i > 0 {
			r.AppendBody(esc)
		}
		r.AppendBody(part)
	}
}

// ErrorHandler answers requests fasthttp could not parse: 431 for headers
// over the buffer, 505 for an unsupported or missing protocol version, 408 on
// a read timeout, else 400. The connection is closed after it.
func (s *Set) ErrorHandler() func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		status := fasthttp.StatusBadRequest
		var small *fasthttp.ErrSmallBuffer
		var te interface{ Timeout() bool }
		msg := err.Error()
		switch {
		case errors.As(err, &small):
			status = fasthttp.StatusRequestHeaderFieldsTooLarge
		case errors.As(err, &te) && te.Timeout():
			status = fasthttp.StatusRequestTimeout
		case strings.Contains(msg, "unsupported http version"),
			strings.Contains(msg, "cannot find whitespace in the first line"):
			status = fasthttp.StatusHTTPVersionNotSupported
		}
		ctx.SetStatusCode(status)
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetBody(s.Get(status).Bytes())
		ctx.SetConnectionClose()
	}
}
