package engine

import "time"

// Status is the balancer's state as /status shows it (DESIGN.md), with a
// few extra fields for the admin page.
type Status struct {
	Policy      PolicyStatus    `json:"policy"`
	Config      ConfigStatus    `json:"config"`
	Round       uint64          `json:"round"`
	Backends    []BackendStatus `json:"backends"`
	Unavailable uint64          `json:"unavailable"`
	Redirects   uint64          `json:"redirects"`
	Listen      string          `json:"listen"`
}

// PolicyStatus describes the running policy. Error is the last error of a
// reload or of weigh, null when the last ones worked.
type PolicyStatus struct {
	Path      string    `json:"path"`
	LoadedAt  time.Time `json:"loaded_at"`
	Error     *string   `json:"error"`
	HasPick   bool      `json:"has_pick"`
	PickError *string   `json:"pick_error,omitempty"`
}

// ConfigStatus describes the config file.
type ConfigStatus struct {
	Path           string `json:"path"`
	RedirectStatus int    `json:"redirect_status"`
	Interval       string `json:"probe_interval"`
}

// BackendStatus is one backend's row. LatencyMs is the last probe's latency,
// null when it failed.
type BackendStatus struct {
	Name      string            `json:"name"`
	URL       string            `json:"url"`
	Healthy   bool              `json:"healthy"`
	LatencyMs *float64          `json:"latency_ms"`
	Weight    float64           `json:"weight"`
	Redirects uint64            `json:"redirects"`
	Share     float64           `json:"share"` // of all redirects so far
	EWMAMs    *float64          `json:"ewma_ms"`
	TTFBMs    *float64          `json:"ttfb_ms"`
	Bytes     int64             `json:"bytes"`
	Status    int               `json:"status"`
	Error     string            `json:"error,omitempty"`
	Samples   int               `json:"samples"`
	Meta      map[string]string `json:"meta,omitempty"`
	History   []float64         `json:"history_ms"`
}

func ms(d time.Duration) *float64 {
	v := float64(d.Microseconds()) / 1000
	return &v
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Status returns a snapshot of the balancer's state.
func (e *Engine) Status() *Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := &Status{
		Policy: PolicyStatus{Path: e.cfg.Policy, LoadedAt: e.loadedAt, HasPick: e.pol.HasPick,
			PickError: strPtr(e.pickErr)},
		Config:      ConfigStatus{Path: e.cfg.Path, RedirectStatus: e.cfg.RedirectStatus, Interval: e.cfg.Probe.Interval.String()},
		Round:       e.round,
		Unavailable: e.front.Unavailable.Load(),
	}
	if e.listenAddr != nil {
		st.Listen = e.listenAddr.String()
	}
	switch {
	case e.reloadErr != "":
		st.Policy.Error = strPtr(e.reloadErr)
	case e.policyErr != "":
		st.Policy.Error = strPtr(e.policyErr)
	}
	for _, b := range e.cfg.Backends {
		h := e.health[backendKey(b)]
		bs := BackendStatus{Name: b.Name, URL: string(b.URL), Healthy: h.Healthy, Weight: e.weights[b.Name],
			Bytes: h.Last.Bytes, Status: h.Last.Status, Error: h.Last.Err, Samples: h.Samples, Meta: b.Meta,
			History: h.History()}
		if h.Known && h.Last.OK() {
			bs.LatencyMs, bs.TTFBMs = ms(h.Last.Latency), ms(h.Last.TTFB)
		}
		if h.Samples > 0 {
			bs.EWMAMs = ms(h.EWMA)
		}
		if c := e.counters[b.Name]; c != nil {
			bs.Redirects = c.Load()
		}
		st.Redirects += bs.Redirects
		st.Backends = append(st.Backends, bs)
	}
	for i := range st.Backends {
		if st.Redirects > 0 {
			st.Backends[i].Share = float64(st.Backends[i].Redirects) / float64(st.Redirects)
		}
	}
	return st
}
