// Package policy runs a user's Lua selection policy (gopher-lua) in a
// sandbox: weigh turns probe results into weights after every round, and the
// optional pick chooses a backend per request. Every call is bounded in time,
// and every result is validated before it is used.
package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Default time limits of DESIGN.md.
const (
	WeighLimit = 200 * time.Millisecond
	PickLimit  = 5 * time.Millisecond
)

// Sandbox limits: Lua call depth, value stack slots, string.rep output, and
// the heap a top-level or weigh call may grow by before it is stopped.
const (
	callStackSize   = 200
	registrySize    = 1024
	registryMaxSize = 256 * 1024
	maxRepBytes     = 1 << 20
	memoryBudget    = 64 << 20
)

// errMemory stops a call whose allocations exceed memoryBudget.
var errMemory = fmt.Errorf("memory limit exceeded (%d MiB)", memoryBudget>>20)

// limitCall returns a context for one long call (top level, weigh): it ends
// at the time limit, or when the heap has grown by memoryBudget since the
// call began. gopher-lua cannot cap its allocations, so a watchdog samples
// the heap (runtime/metrics: no stop-the-world) every 5 ms.
func limitCall(limit time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancelCause := context.WithCancelCause(context.Background())
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				metrics.Read(sample)
				if sample[0].Value.Uint64() > base+memoryBudget {
					cancelCause(errMemory)
					return
				}
			}
		}
	}()
	return ctx, func() { cancelTimeout(); cancelCause(nil) }
}

// Backend is what a policy sees of one backend: its configuration and the
// last probe round. Latency, TTFB and EWMA are seconds; they are nil in Lua
// when HasLatency is false (the probe failed or never ran).
type Backend struct {
	Name       string
	URL        string
	Meta       map[string]string
	Healthy    bool
	HasLatency bool
	Latency    float64
	TTFB       float64
	EWMA       float64
	Bytes      int64
	Status     int
	Error      string
	Samples    int
	Weight     float64 // the current weight, seen by pick through the backends global
}

// Request is what pick sees of a client request.
type Request struct {
	Method, Path, Query, Host, ClientIP string
	Header                              func(name string) string
}

// Options configure a Policy.
type Options struct {
	Log        func(msg string) // receives log() and print() output; nil discards
	WeighLimit time.Duration
	PickLimit  time.Duration
}

// Policy is one loaded policy file. Weigh must not be called concurrently;
// Pick and SetBackends are safe for concurrent use.
type Policy struct {
	Path    string
	Source  []byte
	HasPick bool

	opt   Options
	proto *lua.FunctionProto
	weigh *state // used only by Weigh, which the engine serialises
	pool  chan *state
	snap  atomic.Pointer[snapshot]
	snapN atomic.Uint64
}

type snapshot struct {
	version  uint64
	backends []Backend
}

// state is one Lua interpreter with the policy loaded.
type state struct {
	L       *lua.LState
	weighFn lua.LValue
	pickFn  lua.LValue
	version uint64 // of the backends global it holds
	req     *lua.LTable
	cur     *Request
}

// Load reads and compiles the policy at path.
func Load(path string, opt Options) (*Policy, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Compile(path, src, opt)
}

// Compile compiles src, runs its top level once in the sandbox and checks
// that it defines weigh. Errors carry the file name and line.
func Compile(path string, src []byte, opt Options) (*Policy, error) {
	if opt.WeighLimit == 0 {
		opt.WeighLimit = WeighLimit
	}
	if opt.PickLimit == 0 {
		opt.PickLimit = PickLimit
	}
	name := filepath.Base(path)
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, fmt.Errorf("%s", strings.TrimSpace(err.Error()))
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, err
	}
	p := &Policy{Path: path, Source: src, opt: opt, proto: proto}
	s, err := p.newState()
	if err != nil {
		return nil, err
	}
	if s.weighFn.Type() != lua.LTFunction {
		s.L.Close()
		return nil, fmt.Errorf("%s: the policy does not define function weigh(backends)", name)
	}
	p.HasPick = s.pickFn.Type() == lua.LTFunction
	if !p.HasPick && s.pickFn != lua.LNil {
		s.L.Close()
		return nil, fmt.Errorf("%s: pick is a %s, want a function", name, s.pickFn.Type())
	}
	p.weigh = s
	if p.HasPick {
		p.pool = make(chan *state, 4*runtime.GOMAXPROCS(0))
		for range runtime.GOMAXPROCS(0) {
			if ps, err := p.newState(); err == nil {
				p.pool <- ps
			}
		}
	}
	return p, nil
}

// newState makes a sandboxed interpreter and runs the policy's top level.
func (p *Policy) newState() (*state, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       callStackSize,
		RegistrySize:        registrySize,
		RegistryMaxSize:     registryMaxSize,
		MinimizeStackMemory: true,
	})
	s := &state{L: L}
	openSandbox(L, p.opt.Log, p.Path)
	L.SetGlobal("backends", L.NewTable())
	s.req = L.NewTable()
	s.req.RawSetString("header", L.NewFunction(func(L *lua.LState) int {
		i := 1
		if L.Get(1).Type() == lua.LTTable { // req:header("X") as well as req.header("X")
			i = 2
		}
		name := L.CheckString(i)
		if s.cur == nil || s.cur.Header == nil {
			L.Push(lua.LNil)
			return 1
		}
		if v := s.cur.Header(name); v != "" {
			L.Push(lua.LString(v))
		} else {
			L.Push(lua.LNil)
		}
		return 1
	}))
	ctx, cancel := limitCall(p.opt.WeighLimit)
	defer cancel()
	L.SetContext(ctx)
	L.Push(L.NewFunctionFromProto(p.proto))
	err := L.PCall(0, 0, nil)
	L.RemoveContext()
	if err != nil {
		L.Close()
		return nil, fmt.Errorf("loading %s: %s", filepath.Base(p.Path), luaError(err, ctx))
	}
	s.weighFn = L.G.Global.RawGetString("weigh")
	s.pickFn = L.G.Global.RawGetString("pick")
	return s, nil
}

// openSandbox opens base (without file and module loading), table, string
// and math, and routes log and print to the balancer's log.
func openSandbox(L *lua.LState, logf func(string), path string) {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	// Removed names raise a clear error rather than "attempt to call nil".
	for _, name := range []string{"dofile", "loadfile", "load", "loadstring", "require", "module",
		"getfenv", "setfenv", "newproxy", "collectgarbage", "_printregs"} {
		L.SetGlobal(name, L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("%s is not available in the policy sandbox", name)
			return 0
		}))
	}
	for _, name := range []string{"io", "os", "debug", "package", "channel", "coroutine"} {
		lib := L.NewTable()
		mt := L.NewTable()
		mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("the %s library is not available in the policy sandbox", name)
			return 0
		}))
		L.SetMetatable(lib, mt)
		L.SetGlobal(name, lib)
	}
	if str, ok := L.GetGlobal("string").(*lua.LTable); ok {
		str.RawSetString("rep", L.NewFunction(boundedRep))
		str.RawSetString("dump", lua.LNil)
	}
	prefix := filepath.Base(path) + ": "
	logFn := L.NewFunction(func(L *lua.LState) int {
		parts := make([]string, L.GetTop())
		for i := range parts {
			parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
		}
		if logf != nil {
			logf(prefix + strings.Join(parts, " "))
		}
		return 0
	})
	L.SetGlobal("log", logFn)
	L.SetGlobal("print", logFn)
	L.SetGlobal("hash", L.NewFunction(hashFn))
}

// hashFn is hash(s): a well-mixed 32-bit hash of a string as an integer in
// [0, 2^32), for rendezvous and consistent hashing. Lua 5.1 has no bit
// operations to write a good one in the policy itself.
func hashFn(L *lua.LState) int {
	s := L.CheckString(1)
	h := uint64(14695981039346656037) // FNV-1a, then the splitmix64 finaliser
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	L.Push(lua.LNumber(h >> 32))
	return 1
}

// boundedRep is string.rep refusing results over maxRepBytes.
func boundedRep(L *lua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	sep := L.OptString(3, "")
	if n <= 0 {
		L.Push(lua.LString(""))
		return 1
	}
	if int64(len(str)+len(sep))*int64(n) > maxRepBytes {
		L.RaiseError("string.rep: result larger than %d bytes", maxRepBytes)
	}
	if sep == "" {
		L.Push(lua.LString(strings.Repeat(str, n)))
		return 1
	}
	L.Push(lua.LString(strings.Repeat(str+sep, n-1) + str))
	return 1
}

// luaError turns a failed call into a one-line message.
func luaError(err error, ctx context.Context) string {
	if errors.Is(context.Cause(ctx), errMemory) {
		return errMemory.Error()
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "time limit exceeded"
	}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		msg := ae.Object.String()
		if i := strings.Index(msg, "\nstack traceback:"); i >= 0 {
			msg = msg[:i]
		}
		return msg
	}
	msg := err.Error()
	if i := strings.Index(msg, "\nstack traceback:"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// Weigh calls weigh(backends) and returns validated weights by name. Names
// not returned get no weight. An unknown name, a negative, infinite or NaN
// weight, or a result that is not a table of numbers is an error.
func (p *Policy) Weigh(bs []Backend) (map[string]float64, error) {
	s := p.weigh
	L := s.L
	arr := backendsTable(L, bs)
	ctx, cancel := limitCall(p.opt.WeighLimit)
	defer cancel()
	L.SetContext(ctx)
	err := L.CallByParam(lua.P{Fn: s.weighFn, NRet: 1, Protect: true}, arr)
	L.RemoveContext()
	if err != nil {
		L.SetTop(0)
		return nil, fmt.Errorf("weigh: %s", luaError(err, ctx))
	}
	ret := L.Get(-1)
	L.Pop(1)
	return validateWeights(ret, bs)
}

func validateWeights(ret lua.LValue, bs []Backend) (map[string]float64, error) {
	tbl, ok := ret.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("weigh returned %s, want a table of weights by name", ret.Type())
	}
	known := make(map[string]bool, len(bs))
	for _, b := range bs {
		known[b.Name] = true
	}
	out := make(map[string]float64, len(bs))
	var bad error
	tbl.ForEach(func(k, v lua.LValue) {
		if bad != nil {
			return
		}
		name, ok := k.(lua.LString)
		if !ok {
			bad = fmt.Errorf("weigh returned a %s key %s, want backend names", k.Type(), k.String())
			return
		}
		if !known[string(name)] {
			bad = fmt.Errorf("weigh returned a weight for unknown backend %q", string(name))
			return
		}
		n, ok := v.(lua.LNumber)
		if !ok {
			bad = fmt.Errorf("weigh returned %s for %q, want a number", v.Type(), string(name))
			return
		}
		w := float64(n)
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			bad = fmt.Errorf("weigh returned weight %v for %q, want a finite number >= 0", w, string(name))
			return
		}
		out[string(name)] = w
	})
	if bad != nil {
		return nil, bad
	}
	return out, nil
}

// backendsTable converts bs to the Lua array weigh and pick see.
func backendsTable(L *lua.LState, bs []Backend) *lua.LTable {
	arr := L.CreateTable(len(bs), 0)
	for _, b := range bs {
		t := L.CreateTable(0, 13)
		t.RawSetString("name", lua.LString(b.Name))
		t.RawSetString("url", lua.LString(b.URL))
		meta := L.CreateTable(0, len(b.Meta))
		keys := make([]string, 0, len(b.Meta))
		for k := range b.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			meta.RawSetString(k, lua.LString(b.Meta[k]))
		}
		t.RawSetString("meta", meta)
		t.RawSetString("healthy", lua.LBool(b.Healthy))
		if b.HasLatency {
			t.RawSetString("latency", lua.LNumber(b.Latency))
			t.RawSetString("ttfb", lua.LNumber(b.TTFB))
		}
		if b.Samples > 0 {
			t.RawSetString("ewma", lua.LNumber(b.EWMA))
		}
		t.RawSetString("bytes", lua.LNumber(b.Bytes))
		t.RawSetString("status", lua.LNumber(b.Status))
		if b.Error != "" {
			t.RawSetString("error", lua.LString(b.Error))
		}
		t.RawSetString("samples", lua.LNumber(b.Samples))
		t.RawSetString("weight", lua.LNumber(b.Weight))
		arr.Append(t)
	}
	return arr
}

// SetBackends publishes the round (with weights) that pick sees as the
// global backends. States pick it up on their next call.
func (p *Policy) SetBackends(bs []Backend) {
	p.snap.Store(&snapshot{version: p.snapN.Add(1), backends: bs})
}

// Pick calls pick(req) and returns the chosen name, or "" when pick returned
// nil. The caller checks that the name is a healthy backend.
func (p *Policy) Pick(r *Request) (string, error) {
	if !p.HasPick {
		return "", nil
	}
	var s *state
	select {
	case s = <-p.pool:
	default:
		var err error
		if s, err = p.newState(); err != nil {
			return "", err
		}
	}
	name, err := s.pick(p, r)
	if err != nil {
		// A state interrupted mid-call may hold half-updated globals: drop it.
		s.L.Close()
		return "", err
	}
	select {
	case p.pool <- s:
	default:
		s.L.Close()
	}
	return name, nil
}

func (s *state) pick(p *Policy, r *Request) (string, error) {
	L := s.L
	if snap := p.snap.Load(); snap != nil && snap.version != s.version {
		L.G.Global.RawSetString("backends", backendsTable(L, snap.backends))
		s.version = snap.version
	}
	s.cur = r
	defer func() { s.cur = nil }()
	q := s.req
	q.RawSetString("method", lua.LString(r.Method))
	q.RawSetString("path", lua.LString(r.Path))
	q.RawSetString("query", lua.LString(r.Query))
	q.RawSetString("host", lua.LString(r.Host))
	q.RawSetString("client_ip", lua.LString(r.ClientIP))
	ctx, cancel := context.WithTimeout(context.Background(), p.opt.PickLimit)
	defer cancel()
	L.SetContext(ctx)
	err := L.CallByParam(lua.P{Fn: s.pickFn, NRet: 1, Protect: true}, q)
	L.RemoveContext()
	if err != nil {
		return "", fmt.Errorf("pick: %s", luaError(err, ctx))
	}
	ret := L.Get(-1)
	L.Pop(1)
	switch v := ret.(type) {
	case lua.LString:
		return string(v), nil
	case *lua.LNilType:
		return "", nil
	default:
		if ret == lua.LFalse {
			return "", nil
		}
		return "", fmt.Errorf("pick returned %s, want a backend name or nil", ret.Type())
	}
}
