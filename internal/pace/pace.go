// Package pace slows a byte stream to a fixed rate, like nginx's limit_rate:
// paced from the first byte with no initial burst.
package pace

import (
	"io"
	"time"
)

// Reader reads from an underlying reader no faster than a fixed number of
// bytes per second. It is not safe for concurrent use.
type Reader struct {
	r     io.Reader
	rate  int64
	chunk int
	start time.Time
	sent  int64
	sleep func(time.Duration)
	now   func() time.Time
}

// NewReader returns a Reader delivering r at rate bytes per second.
func NewReader(r io.Reader, rate int64) *Reader {
	// Chunks of about 1/50 s keep the stream smooth without a syscall per byte.
	chunk := int(min(max(rate/50, 1), 64<<10))
	return &Reader{r: r, rate: rate, chunk: chunk, sleep: time.Sleep, now: time.Now}
}

// Read implements io.Reader. Each chunk is released only once the time it
// takes to send every byte so far at the rate has elapsed.
func (p *Reader) Read(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = p.now()
	}
	if len(b) > p.chunk {
		b = b[:p.chunk]
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		due := p.start.Add(time.Duration(float64(p.sent) / float64(p.rate) * float64(time.Second)))
		if d := due.Sub(p.now()); d > 0 {
			p.sleep(d)
		}
	}
	return n, err
}

// Close closes the underlying reader when it is an io.Closer.
func (p *Reader) Close() error {
	if c, ok := p.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
