package pace

import (
	"bytes"
	"io"
	"testing"
	"time"
)

func TestReaderPacesFromFirstByte(t *testing.T) {
	const rate = 100_000
	data := make([]byte, 50_000)
	p := NewReader(bytes.NewReader(data), rate)
	var slept time.Duration
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.sleep = func(d time.Duration) { slept += d; clock = clock.Add(d) }
	n, err := io.Copy(io.Discard, p)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d, %v; want %d", n, err, len(data))
	}
	// 50 kB at 100 kB/s is 0.5 s; the fake sleep records what was owed.
	if slept < 450*time.Millisecond || slept > 550*time.Millisecond {
		t.Errorf("slept %v, want about 500ms", slept)
	}
}

func TestReaderFirstChunkIsNotABurst(t *testing.T) {
	p := NewReader(bytes.NewReader(make([]byte, 10_000)), 1000)
	var slept time.Duration
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.sleep = func(d time.Duration) { slept += d; clock = clock.Add(d) }
	buf := make([]byte, 10_000)
	n, _ := p.Read(buf)
	if n > 20 {
		t.Errorf("first read returned %d bytes at 1000 B/s, want at most 20", n)
	}
	if slept == 0 {
		t.Error("first chunk was not paced")
	}
}
