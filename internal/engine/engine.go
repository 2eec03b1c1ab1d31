// Package engine runs the balancer's data flow: it loads the config and the
// policy, probes the backends every interval, asks the policy for weights
// and publishes an immutable pick table to the front end. Reloads build the
// new config and policy beside the running ones and swap only valid ones.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"ricochet/internal/config"
	"ricochet/internal/pages"
	"ricochet/internal/pick"
	"ricochet/internal/policy"
	"ricochet/internal/probe"
	"ricochet/internal/redirect"
)

// ErrNoBackends is returned when neither the config nor the arguments name a
// backend.
var ErrNoBackends = errors.New("no backends: name them in the config's [[backends]] or as host:port arguments")

// Options are the balancer's command line: what overrides the config file.
type Options struct {
	ConfigPath string   // "" for none
	Policy     string   // -policy, overrides the file
	Listen     string   // -listen
	Admin      string   // -admin; AdminSet tells an explicit "" from unset
	AdminSet   bool     //
	Backends   []string // positional host:port arguments
	Log        *log.Logger
}

// Engine owns the balancer's state. It is safe for concurrent use.
type Engine struct {
	opt     Options
	log     *log.Logger
	prober  *probe.Prober
	front   *redirect.Front
	Metrics *Metrics

	reloadMu sync.Mutex // serialises reloads (file reads happen outside mu)
	wake     chan struct{}

	mu          sync.Mutex // guards the fields below; rounds and swaps hold it
	cfg         *config.Config
	pol         *policy.Policy
	pages       *pages.Set
	loadedAt    time.Time
	health      map[string]*probe.Health // by backendKey
	counters    map[string]*atomic.Uint64
	lastGood    map[string]float64 // last weights weigh returned; nil if never
	weights     map[string]float64 // in effect, by name (0 for unhealthy)
	round       uint64
	reloadErr   string // last failed reload, until one succeeds
	policyErr   string // last runtime error of weigh, until one succeeds
	pickErr     string
	listenAddr  net.Addr
	lastLogged  string
	pickErrLast atomic.Int64
}

// New loads the configuration and the policy. It fails on any error: at
// start-up there is nothing good to keep.
func New(opt Options) (*Engine, error) {
	if opt.Log == nil {
		opt.Log = log.New(os.Stderr, "balancer: ", log.LstdFlags)
	}
	e := &Engine{
		opt:      opt,
		log:      opt.Log,
		prober:   probe.NewProber(),
		front:    &redirect.Front{},
		Metrics:  newMetrics(),
		wake:     make(chan struct{}, 1),
		health:   map[string]*probe.Health{},
		counters: map[string]*atomic.Uint64{},
	}
	e.Metrics.engine = e
	e.front.OnPickError = e.notePickError
	e.front.OnPick = e.Metrics.pickDuration.Observe
	cfg, ps, pol, err := e.load()
	if err != nil {
		return nil, err
	}
	e.cfg, e.pages, e.pol, e.loadedAt = cfg, ps, pol, time.Now()
	for _, b := range cfg.Backends {
		e.health[backendKey(b)] = &probe.Health{}
	}
	e.publish(nil)
	return e, nil
}

// Front returns the request handler fed by the engine.
func (e *Engine) Front() *redirect.Front { return e.front }

// Pages returns the running page set.
func (e *Engine) Pages() *pages.Set {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pages
}

// Config returns the running configuration.
func (e *Engine) Config() *config.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// SetListenAddr records the bound front-end address so that backends
// pointing at it are refused, now and on every reload.
func (e *Engine) SetListenAddr(a net.Addr) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, loop := e.cfg.SelfLoop(a); loop {
		return fmt.Errorf("backend %q (%s) is the balancer's own listen address", b.Name, b.URL)
	}
	e.listenAddr = a
	return nil
}

func backendKey(b config.Backend) string { return b.Name + "\x00" + string(b.URL) }

// load reads the config file (if any), applies the command line, loads the
// pages and the policy. The policy is reused when its file is unchanged.
func (e *Engine) load() (*config.Config, *pages.Set, *policy.Policy, error) {
	cfg := config.Default()
	if e.opt.ConfigPath != "" {
		var err error
		if cfg, err = config.Load(e.opt.ConfigPath); err != nil {
			return nil, nil, nil, fmt.Errorf("config: %w", err)
		}
	}
	if e.opt.Policy != "" {
		cfg.Policy = e.opt.Policy
	}
	if e.opt.Listen != "" {
		cfg.Listen = e.opt.Listen
	}
	if e.opt.AdminSet {
		cfg.Admin = e.opt.Admin
	}
	cfg, err := cfg.WithBackends(e.opt.Backends)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backends: %w", err)
	}
	if len(cfg.Backends) == 0 {
		return nil, nil, nil, ErrNoBackends
	}
	if e.listenAddr != nil {
		if b, loop := cfg.SelfLoop(e.listenAddr); loop {
			return nil, nil, nil, fmt.Errorf("config: backend %q (%s) is the balancer's own listen address", b.Name, b.URL)
		}
	}
	ps, err := pages.Load(cfg.Pages, 301, 302, 303, 307, 308, 400, 431, 503, 505)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pages: %w", err)
	}
	src, err := os.ReadFile(cfg.Policy)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("policy: %w", err)
	}
	if e.pol != nil && e.pol.Path == cfg.Policy && bytes.Equal(e.pol.Source, src) {
		return cfg, ps, e.pol, nil
	}
	pol, err := policy.Compile(cfg.Policy, src, policy.Options{Log: func(m string) { e.log.Print(m) }})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("policy: %w", err)
	}
	return cfg, ps, pol, nil
}

// Reload re-reads the config and the policy and swaps them in if they are
// valid and weigh accepts the current results. On error the running ones
// stay; the error is logged once and shown in Status until a reload works.
func (e *Engine) Reload(reason string) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	start := time.Now()
	cfg, ps, pol, err := e.load()
	e.mu.Lock()
	if err == nil {
		err = e.swap(cfg, ps, pol)
	} else {
		err = e.fail(err)
	}
	e.mu.Unlock()
	if err == nil {
		e.Metrics.reloadLatency.Observe(time.Since(start).Seconds())
	}
	return err
}

// fail records a failed reload. e.mu is held.
func (e *Engine) fail(err error) error {
	e.reloadErr = err.Error()
	e.Metrics.reloads.WithLabelValues("failed").Inc()
	if e.lastLogged != err.Error() {
		e.log.Printf("reload failed, keeping the running config and policy: %v", err)
		e.lastLogged = err.Error()
	}
	return err
}

// swap installs a loaded config and policy. e.mu is held.
func (e *Engine) swap(cfg *config.Config, ps *pages.Set, pol *policy.Policy) error {
	if bytes.Equal(cfg.Raw, e.cfg.Raw) && pol == e.pol && cfg.Pages == e.cfg.Pages {
		if e.reloadErr != "" {
			e.log.Printf("reload: back to the running config and policy")
		}
		e.reloadErr, e.lastLogged = "", ""
		e.pages = ps // page files are not compared: take them as read
		e.publishLocked(e.lastGood)
		return nil
	}
	health := make(map[string]*probe.Health, len(cfg.Backends))
	added, kept := 0, 0
	for _, b := range cfg.Backends {
		if h, ok := e.health[backendKey(b)]; ok {
			health[backendKey(b)] = h
			kept++
		} else {
			health[backendKey(b)] = &probe.Health{}
			added++
		}
	}
	w, err := pol.Weigh(policyInput(cfg, health, nil))
	if err != nil {
		e.Metrics.policyErrors.WithLabelValues("weigh").Inc()
		return e.fail(fmt.Errorf("policy %s: %w (on the current probe results)", cfg.Policy, err))
	}
	removed := len(e.health) - kept
	if cfg.Listen != e.cfg.Listen || cfg.Admin != e.cfg.Admin {
		e.log.Printf("reload: listen and admin addresses change only on restart")
	}
	policyChanged := pol != e.pol
	e.cfg, e.pages, e.pol, e.health = cfg, ps, pol, health
	e.lastGood, e.reloadErr, e.lastLogged = w, "", ""
	if policyChanged {
		e.loadedAt, e.policyErr = time.Now(), ""
	}
	e.publishLocked(w)
	e.Metrics.reloads.WithLabelValues("ok").Inc()
	e.log.Printf("reloaded: %d backends (%d added, %d removed), policy %s", len(cfg.Backends), added, removed, cfg.Policy)
	if added > 0 {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// policyInput builds what weigh sees. weights, when not nil, fills Weight.
func policyInput(cfg *config.Config, health map[string]*probe.Health, weights map[string]float64) []policy.Backend {
	bs := make([]policy.Backend, 0, len(cfg.Backends))
	for _, b := range cfg.Backends {
		h := health[backendKey(b)]
		pb := policy.Backend{Name: b.Name, URL: string(b.URL), Meta: b.Meta, Healthy: h.Healthy,
			Bytes: h.Last.Bytes, Status: h.Last.Status, Error: h.Last.Err, Samples: h.Samples}
		if h.Known && h.Last.OK() {
			pb.HasLatency, pb.Latency, pb.TTFB = true, h.Last.Latency.Seconds(), h.Last.TTFB.Seconds()
		}
		if h.Samples > 0 {
			pb.EWMA = h.EWMA.Seconds()
		}
		pb.Weight = weights[b.Name]
		bs = append(bs, pb)
	}
	return bs
}

// Run probes every interval until ctx ends, starting one interval from now
// (the caller runs the first Round before it starts answering). A reload
// that adds backends starts a round at once.
func (e *Engine) Run(ctx context.Context) {
	for {
		e.mu.Lock()
		interval := e.cfg.Probe.Interval.Duration
		e.mu.Unlock()
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-e.wake:
			t.Stop()
		}
		e.Round(ctx)
	}
}

// Round probes every backend once, then weighs and publishes.
func (e *Engine) Round(ctx context.Context) {
	e.mu.Lock()
	cfg := e.cfg
	e.mu.Unlock()
	urls := make([]string, len(cfg.Backends))
	for i, b := range cfg.Backends {
		urls[i] = string(b.URL) + cfg.Probe.Path
	}
	results := e.prober.Round(ctx, urls, cfg.Probe.Timeout.Duration)
	if ctx.Err() != nil {
		return
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	for i, b := range cfg.Backends {
		h := e.health[backendKey(b)]
		if h == nil {
			continue // removed by a reload during the round
		}
		was := h.Known && h.Healthy
		h.Observe(results[i], e.cfg.Probe.Rise, e.cfg.Probe.Fall)
		if results[i].OK() {
			e.Metrics.probeLatency.WithLabelValues(b.Name).Observe(results[i].Latency.Seconds())
		}
		switch {
		case was && !h.Healthy:
			e.log.Printf("backend %s is down: %s", b.Name, results[i].Err)
		case !was && h.Healthy:
			e.log.Printf("backend %s is up (%.1f ms)", b.Name, results[i].Latency.Seconds()*1000)
		}
	}
	e.round++
	start := time.Now()
	w, err := e.pol.Weigh(policyInput(e.cfg, e.health, nil))
	e.Metrics.weighDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		e.Metrics.policyErrors.WithLabelValues("weigh").Inc()
		if e.policyErr != err.Error() {
			e.log.Printf("policy %s: %v; keeping the last good weights", e.cfg.Policy, err)
		}
		e.policyErr = err.Error()
		w = e.lastGood
	} else {
		e.policyErr, e.lastGood = "", w
	}
	e.publishLocked(w)
}

func (e *Engine) publish(w map[string]float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.publishLocked(w)
}

// publishLocked builds the pick table from the healthy backends and swaps it
// in. A nil w (weigh never succeeded) means equal weights. e.mu is held.
func (e *Engine) publishLocked(w map[string]float64) {
	var targets []pick.Target
	eff := make(map[string]float64, len(e.cfg.Backends))
	for _, b := range e.cfg.Backends {
		c := e.counters[b.Name]
		if c == nil {
			c = new(atomic.Uint64)
			e.counters[b.Name] = c
		}
		h := e.health[backendKey(b)]
		if !h.Healthy {
			continue
		}
		weight := 1.0
		if w != nil {
			weight = w[b.Name]
		}
		eff[b.Name] = weight
		targets = append(targets, pick.Target{Name: b.Name, Origin: string(b.URL), Weight: weight, Redirects: c})
	}
	e.weights = eff
	st := &redirect.State{
		Table:      pick.New(targets),
		Status:     e.cfg.RedirectStatus,
		Pages:      e.pages,
		RetryAfter: int(math.Ceil(e.cfg.Probe.Interval.Seconds())),
	}
	if e.pol.HasPick {
		e.pol.SetBackends(policyInput(e.cfg, e.health, eff))
		st.Policy = e.pol
	}
	e.front.Store(st)
}

// notePickError counts a failed pick and logs at most one a second.
func (e *Engine) notePickError(err error) {
	e.Metrics.policyErrors.WithLabelValues("pick").Inc()
	now := time.Now().UnixNano()
	last := e.pickErrLast.Load()
	if now-last < int64(time.Second) || !e.pickErrLast.CompareAndSwap(last, now) {
		return
	}
	e.mu.Lock()
	e.pickErr = err.Error()
	path := e.cfg.Policy
	e.mu.Unlock()
	e.log.Printf("policy %s: %v; falling back to the weights", path, err)
}
