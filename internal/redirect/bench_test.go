package redirect

import (
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"ricochet/internal/pages"
	"ricochet/internal/pick"
)

func benchFront(b *testing.B) *Front {
	ps, err := pages.Load("", 301, 503, 505)
	if err != nil {
		b.Fatal(err)
	}
	var ts []pick.Target
	for i, o := range []string{"http://127.0.0.1:18181", "http://127.0.0.1:18182", "http://127.0.0.1:18183"} {
		ts = append(ts, pick.Target{Name: o, Origin: o, Weight: float64(3 - i), Redirects: new(atomic.Uint64)})
	}
	f := &Front{}
	f.Store(&State{Table: pick.New(ts), Status: 301, Pages: ps, RetryAfter: 5})
	return f
}

// BenchmarkServe measures the handler alone, without the network.
func BenchmarkServe(b *testing.B) {
	f := benchFront(b)
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/some/file.html?x=1")
	ctx.Request.Header.SetProtocol("HTTP/1.1")
	b.ReportAllocs()
	for b.Loop() {
		f.Serve(&ctx)
		ctx.Response.Reset()
	}
}
