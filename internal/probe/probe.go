// Package probe measures backends with a performance test, a timed download
// of a test file, and tracks each backend's health across rounds.
package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// Result is the outcome of one probe of one backend.
type Result struct {
	Latency time.Duration // whole download, request to last byte
	TTFB    time.Duration // request to first response byte
	Bytes   int64
	Status  int
	Err     string // "" when the probe succeeded
	At      time.Time
}

// OK reports whether the probe succeeded.
func (r Result) OK() bool { return r.Err == "" }

// Prober downloads a test file from backends. It is safe for concurrent use.
type Prober struct {
	client *http.Client
}

// NewProber returns a Prober. Each probe opens a fresh connection, as a new
// client would, so connection set-up is part of what is measured.
func NewProber() *Prober {
	tr := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Prober{client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// maxBody bounds how much of a probe body is read.
const maxBody = 64 << 20

// Probe downloads url within timeout. A connect error, a timeout, a status
// other than 200 or a body shorter than its Content-Length fail the probe.
func (p *Prober) Probe(ctx context.Context, url string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	r := Result{At: start}
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", url, nil)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	req.Header.Set("User-Agent", "ricochet-probe")
	resp, err := p.client.Do(req)
	if err != nil {
		r.Err = describe(ctx, err)
		r.Latency = time.Since(start)
		return r
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	r.Latency = time.Since(start)
	r.Bytes = n
	if !first.IsZero() {
		r.TTFB = first.Sub(start)
	}
	switch {
	case err != nil:
		r.Err = describe(ctx, err)
	case resp.StatusCode != http.StatusOK:
		r.Err = fmt.Sprintf("status %d", resp.StatusCode)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		r.Err = fmt.Sprintf("short body: %d of %d bytes", n, resp.ContentLength)
	case n == 0:
		r.Err = "empty body"
	}
	return r
}

func describe(ctx context.Context, err error) string {
	if ctx.Err() == context.DeadlineExceeded {
		return "timeout"
	}
	if ue, ok := err.(interface{ Unwrap() error }); ok && ue.Unwrap() != nil {
		err = ue.Unwrap()
	}
	return err.Error()
}

// Round probes every url concurrently and returns the results in order.
func (p *Prober) Round(ctx context.Context, urls []string, timeout time.Duration) []Result {
	out := make([]Result, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = p.Probe(ctx, u, timeout)
		}()
	}
	wg.Wait()
	return out
}

// historyLen is how many latencies a Health keeps for charts.
const historyLen = 60

// ewmaAlpha weighs the newest latency in the moving average.
const ewmaAlpha = 0.3

// Health is the running state of one backend: its last result, its health
// with rise/fall hysteresis, and its latency history. It is not safe for
// concurrent use; the engine owns it.
type Health struct {
	Known   bool // at least one probe finished
	Healthy bool
	fails   int // consecutive failed probes
	rises   int // consecutive good probes
	Last    Result
	EWMA    time.Duration
	Samples int // successful probes so far
	history []float64
}

// Observe records r. The first result decides health at once; after that it
// takes fall failures in a row to go down and rise successes to come back.
func (h *Health) Observe(r Result, rise, fall int) {
	h.Last = r
	if r.OK() {
		h.fails = 0
		h.rises++
		if h.Samples == 0 {
			h.EWMA = r.Latency
		} else {
			h.EWMA = time.Duration(ewmaAlpha*float64(r.Latency) + (1-ewmaAlpha)*float64(h.EWMA))
		}
		h.Samples++
		if !h.Known || h.rises >= rise {
			h.Healthy = true
		}
		h.push(float64(r.Latency.Microseconds()) / 1000)
	} else {
		h.rises = 0
		h.fails++
		if !h.Known || h.fails >= fall {
			h.Healthy = false
		}
		h.push(-1)
	}
	h.Known = true
}

func (h *Health) push(ms float64) {
	if len(h.history) == historyLen {
		copy(h.history, h.history[1:])
		h.history = h.history[:historyLen-1]
	}
	h.history = append(h.history, ms)
}

// History returns the recent latencies in milliseconds, oldest first, with
// -1 for failed probes.
func (h *Health) History() []float64 { return append([]float64(nil), h.history...) }
