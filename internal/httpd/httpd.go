// Package httpd builds the fasthttp servers of ricochet's programs with one
// set of limits and timeouts, so the file server and the balancer's front
// end treat slow and oversized clients alike.
package httpd

import (
	"time"

	"github.com/valyala/fasthttp"

	"ricochet/internal/pages"
)

// Limits applied to every connection.
const (
	// MaxHeader is the largest request head accepted; larger ones get 431.
	MaxHeader = 16 << 10
	// ReadTimeout bounds reading one request head: slow-loris clients are
	// cut off after it.
	ReadTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections left unused.
	IdleTimeout = 60 * time.Second
)

// New returns a server running h, answering unparsable requests with the
// pages of ps (400, 431, 505).
func New(h fasthttp.RequestHandler, ps *pages.Set) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      h,
		ErrorHandler:                 ps.ErrorHandler(),
		Name:                         "ricochet",
		ReadBufferSize:               MaxHeader,
		ReadTimeout:                  ReadTimeout,
		IdleTimeout:                  IdleTimeout,
		MaxRequestBodySize:           1 << 20, // GET and HEAD only: bodies are never read
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		NoDefaultContentType:         true,
		Logger:                       quiet{},
	}
}

// quiet drops fasthttp's per-connection chatter (clients hanging up,
// malformed requests already answered with a status).
type quiet struct{}

func (quiet) Printf(string, ...any) {}
