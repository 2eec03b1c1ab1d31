package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

func backends(lat ...float64) []Backend {
	var bs []Backend
	for i, l := range lat {
		b := Backend{Name: string(rune('a' + i)), URL: "http://127.0.0.1:1", Healthy: l > 0, Meta: map[string]string{"zone": "z"}}
		if l > 0 {
			b.HasLatency, b.Latency, b.EWMA, b.Samples = true, l, l, 1
		}
		bs = append(bs, b)
	}
	return bs
}

func mustCompile(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Compile("test.lua", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWeightedFastestPinsSeedWeights pins the default policy's weights: the
// fastest of n gets n, the slowest 1, unhealthy ones nothing.
func TestWeightedFastestPinsSeedWeights(t *testing.T) {
	p, err := Load(filepath.Join("..", "..", "policies", "weighted-fastest.lua"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		lat  []float64
		want map[string]float64
	}{
		{"one", []float64{0.05}, map[string]float64{"a": 1}},
		{"two", []float64{0.02, 0.01}, map[string]float64{"a": 1, "b": 2}},
		{"three", []float64{0.03, 0.01, 0.02}, map[string]float64{"a": 1, "b": 3, "c": 2}},
		{"five", []float64{0.05, 0.01, 0.04, 0.02, 0.03}, map[string]float64{"a": 1, "b": 5, "c": 2, "d": 4, "e": 3}},
		{"five, two down", []float64{0.05, 0, 0.04, -1, 0.03}, map[string]float64{"a": 1, "c": 2, "e": 3}},
		{"ties by name", []float64{0.01, 0.01}, map[string]float64{"a": 2, "b": 1}},
		{"all down", []float64{0, 0}, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Weigh(backends(tt.lat...))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("weights %v, want %v", got, tt.want)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("weights %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestBackendFieldsReachLua(t *testing.T) {
	p := mustCompile(t, `
function weigh(bs)
  local b = bs[1]
  assert(b.name == "a" and b.url == "http://127.0.0.1:1" and b.meta.zone == "z")
  assert(b.healthy == true and b.latency == 0.25 and b.ewma == 0.25 and b.samples == 1)
  assert(bs[2].latency == nil and bs[2].healthy == false)
  return { a = 1 }
end`)
	if _, err := p.Weigh(backends(0.25, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestFailureModes checks that every broken policy is refused at load or
// reported by Weigh, quickly, without panicking.
func TestFailureModes(t *testing.T) {
	tests := []struct {
		name, src string
		loadErr   string // error expected from Compile
		weighErr  string // error expected from Weigh
	}{
		{name: "syntax error", src: "function weigh(b)\n  return {\nend", loadErr: "test.lua"},
		{name: "no weigh", src: "x = 1", loadErr: "does not define function weigh"},
		{name: "pick not a function", src: "function weigh(b) return {} end\npick = 3", loadErr: "pick is a number"},
		{name: "top-level error", src: "error('boom')", loadErr: "boom"},
		{name: "top-level loop", src: "while true do end", loadErr: "time limit"},
		{name: "runtime error", src: "function weigh(b) error('kaput') end", weighErr: "kaput"},
		{name: "error names the line", src: "function weigh(b)\n  local x = nil\n  return x.y\nend", weighErr: "test.lua:3"},
		{name: "infinite loop", src: "function weigh(b) while true do end end", weighErr: "time limit exceeded"},
		{name: "returns a string", src: "function weigh(b) return 'x' end", weighErr: "returned string"},
		{name: "returns nil", src: "function weigh(b) end", weighErr: "returned nil"},
		{name: "unknown name", src: "function weigh(b) return { zed = 1 } end", weighErr: `unknown backend "zed"`},
		{name: "negative", src: "function weigh(b) return { a = -1 } end", weighErr: "finite number >= 0"},
		{name: "NaN", src: "function weigh(b) return { a = 0/0 } end", weighErr: "finite number >= 0"},
		{name: "infinite", src: "function weigh(b) return { a = 1/0 } end", weighErr: "finite number >= 0"},
		{name: "non-number", src: "function weigh(b) return { a = 'heavy' } end", weighErr: "want a number"},
		{name: "array result", src: "function weigh(b) return { 1, 2 } end", weighErr: "want backend names"},
		{name: "io library", src: "function weigh(b) io.open('/etc/passwd') end", weighErr: "io"},
		{name: "os library", src: "function weigh(b) os.execute('true') end", weighErr: "os"},
		{name: "require", src: "function weigh(b) require('os') end", weighErr: "require"},
		{name: "dofile", src: "function weigh(b) dofile('/etc/passwd') end", weighErr: "dofile"},
		{name: "loadstring", src: "function weigh(b) loadstring('return 1')() end", weighErr: "loadstring"},
		{name: "load bytecode", src: "function weigh(b) load('\\27Lua') end", weighErr: "load"},
		{name: "huge string.rep", src: "function weigh(b) return { a = #string.rep('x', 2^31) } end", weighErr: "larger than"},
		{name: "deep recursion", src: "local function f(n) return f(n + 1) + 1 end\nfunction weigh(b) return f(1) end", weighErr: "stack overflow"},
		{name: "setmetatable on _G", src: "setmetatable(_G, { __index = function() error('trap') end })\nfunction weigh(b) return { a = nosuch } end", weighErr: "trap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p, err := Compile("test.lua", []byte(tt.src), Options{})
			if tt.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.loadErr) {
					t.Fatalf("Compile error %v, want one containing %q", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = p.Weigh(backends(0.01, 0.02))
			if err == nil || !strings.Contains(err.Error(), tt.weighErr) {
				t.Fatalf("Weigh error %v, want one containing %q", err, tt.weighErr)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %v", el)
			}
			// The policy keeps working for later calls after an error.
			if _, err2 := p.Weigh(backends(0.01, 0.02)); err2 == nil {
				t.Errorf("second Weigh succeeded after %v", err)
			}
		})
	}
}

func TestPick(t *testing.T) {
	p := mustCompile(t, `
function weigh(bs) local w = {} for _, b in ipairs(bs) do w[b.name] = 1 end return w end
function pick(req)
  if req.path == "/boom" then error("boom") end
  if req.path == "/loop" then while true do end end
  if req.path == "/num" then return 42 end
  if req.path == "/nil" then return nil end
  if req.path == "/hdr" then return req.header("X-Backend") end
  if req.path == "/hdr2" then return req:header("X-Backend") end
  if req.path == "/weights" then
    for _, b in ipairs(backends) do if b.weight == 7 then return b.name end end
  end
  return req.client_ip == "10.0.0.2" and "b" or "a"
end`)
	if !p.HasPick {
		t.Fatal("HasPick = false")
	}
	bs := backends(0.01, 0.02)
	bs[1].Weight = 7
	p.SetBackends(bs)
	hdr := func(name string) string {
		if name == "X-Backend" {
			return "b"
		}
		return ""
	}
	tests := []struct {
		path, ip, want, err string
	}{
		{"/", "10.0.0.1", "a", ""},
		{"/", "10.0.0.2", "b", ""},
		{"/hdr", "", "b", ""},
		{"/hdr2", "", "b", ""},
		{"/weights", "", "b", ""},
		{"/nil", "", "", ""},
		{"/boom", "", "", "boom"},
		{"/loop", "", "", "time limit exceeded"},
		{"/num", "", "", "want a backend name"},
		{"/", "10.0.0.2", "b", ""}, // still works after the failures
	}
	for _, tt := range tests {
		start := time.Now()
		got, err := p.Pick(&Request{Method: "GET", Path: tt.path, ClientIP: tt.ip, Header: hdr})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("pick %s: err %v, want %q", tt.path, err, tt.err)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("pick %s ip %s = %q, %v; want %q", tt.path, tt.ip, got, err, tt.want)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("pick %s took %v", tt.path, el)
		}
	}
}

func TestLogReachesTheBalancer(t *testing.T) {
	var got []string
	p, err := Compile("x.lua", []byte(`log("hello", 42) print("p") function weigh(b) return {} end`), Options{Log: func(s string) { got = append(got, s) }})
	if err != nil {
		t.Fatal(err)
	}
	_ = p
	if len(got) != 2 || got[0] != "x.lua: hello 42" || got[1] != "x.lua: p" {
		t.Errorf("log lines %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.lua"), Options{}); !os.IsNotExist(err) {
		t.Errorf("err %v, want not-exist", err)
	}
}

func luaString(s string) lua.LValue  { return lua.LString(s) }
func luaNumber(f float64) lua.LValue { return lua.LNumber(f) }

func TestMemoryBudget(t *testing.T) {
	// A long time limit, so that on any machine the budget stops it first.
	p, err := Compile("hog.lua", []byte(`
function weigh(bs)
  local t = {}
  while true do t[#t + 1] = { string.rep("x", 1000), #t } end
end`), Options{WeighLimit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Weigh(backends(0.01))
	if err == nil || !strings.Contains(err.Error(), "memory limit exceeded") {
		t.Fatalf("err %v, want the memory limit", err)
	}
	t.Logf("stopped after %v", time.Since(start))
	// Ordinary policies are far below the budget.
	q := mustCompile(t, "function weigh(bs) local w = {} for i = 1, 10000 do w[i] = tostring(i) end return {} end")
	if _, err := q.Weigh(backends(0.01)); err != nil {
		t.Fatal(err)
	}
}
