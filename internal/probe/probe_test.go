package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 1000))) })
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) })
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("only a little"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p := NewProber()
	tests := []struct {
		path, err string
		bytes     int64
	}{
		{"/ok", "", 1000},
		{"/500", "status 500", -1},
		{"/short", "unexpected EOF", -1},
		{"/slow", "timeout", -1},
	}
	for _, tt := range tests {
		r := p.Probe(context.Background(), srv.URL+tt.path, 300*time.Millisecond)
		if !strings.Contains(r.Err, tt.err) || (tt.err == "" && r.Err != "") {
			t.Errorf("%s: err %q, want %q", tt.path, r.Err, tt.err)
		}
		if tt.bytes >= 0 && r.Bytes != tt.bytes {
			t.Errorf("%s: %d bytes, want %d", tt.path, r.Bytes, tt.bytes)
		}
		if tt.err == "" && (r.Latency <= 0 || r.TTFB <= 0 || r.TTFB > r.Latency || r.Status != 200) {
			t.Errorf("%s: latency %v ttfb %v status %d", tt.path, r.Latency, r.TTFB, r.Status)
		}
	}
	r := p.Probe(context.Background(), "http://127.0.0.1:1/x", time.Second)
	if r.OK() {
		t.Error("probe of a closed port succeeded")
	}
	start := time.Now()
	rs := p.Round(context.Background(), []string{srv.URL + "/slow", srv.URL + "/ok", srv.URL + "/slow"}, 300*time.Millisecond)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("round took %v: probes not concurrent or not bounded", el)
	}
	if rs[0].OK() || !rs[1].OK() || rs[2].OK() {
		t.Errorf("round results %+v", rs)
	}
}

func TestHealthRiseFall(t *testing.T) {
	ok := Result{Latency: 10 * time.Millisecond}
	bad := Result{Err: "timeout"}
	tests := []struct {
		name       string
		rise, fall int
		seq        []Result
		want       []bool
	}{
		{"first result decides", 3, 3, []Result{ok}, []bool{true}},
		{"first failure decides", 3, 3, []Result{bad}, []bool{false}},
		{"fall 1", 1, 1, []Result{ok, bad, ok}, []bool{true, false, true}},
		{"fall 2", 1, 2, []Result{ok, bad, ok, bad, bad}, []bool{true, true, true, true, false}},
		{"rise 2", 2, 1, []Result{ok, bad, ok, ok}, []bool{true, false, false, true}},
		{"rise 3 interrupted", 3, 1, []Result{bad, ok, ok, bad, ok, ok, ok}, []bool{false, false, false, false, false, false, true}},
	}
	for _, tt := range tests {
		var h Health
		for i, r := range tt.seq {
			h.Observe(r, tt.rise, tt.fall)
			if h.Healthy != tt.want[i] {
				t.Errorf("%s: after %d results healthy=%v, want %v", tt.name, i+1, h.Healthy, tt.want[i])
			}
		}
	}
}

func TestHealthEWMAAndHistory(t *testing.T) {
	var h Health
	h.Observe(Result{Latency: 100 * time.Millisecond}, 1, 1)
	h.Observe(Result{Latency: 200 * time.Millisecond}, 1, 1)
	if want := 130 * time.Millisecond; h.EWMA != want || h.Samples != 2 {
		t.Errorf("ewma %v samples %d, want %v 2", h.EWMA, h.Samples, want)
	}
	for i := 0; i < 100; i++ {
		h.Observe(Result{Err: "x"}, 1, 1)
	}
	if got := h.History(); len(got) != historyLen || got[len(got)-1] != -1 {
		t.Errorf("history len %d", len(got))
	}
	if h.EWMA != 130*time.Millisecond {
		t.Error("failures changed the ewma")
	}
}
