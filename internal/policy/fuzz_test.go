package policy

import (
	"math"
	"testing"
)

// FuzzWeights feeds weigh results built from fuzzed names and numbers
// through the conversion and validation of Lua results: accepted weights
// must name known backends and be finite and non-negative.
func FuzzWeights(f *testing.F) {
	f.Add("a", 1.0, "b", 2.0)
	f.Add("a", -1.0, "zed", 0.0)
	f.Add("", math.NaN(), "a", math.Inf(1))
	f.Add("a\x00", 1e308, "b", 5e-324)
	p, err := Compile("fuzz.lua", []byte(`
function weigh(bs)
  return { [k1] = v1, [k2] = v2 }
end`), Options{})
	if err != nil {
		f.Fatal(err)
	}
	bs := backends(0.01, 0.02) // names "a" and "b"
	f.Fuzz(func(t *testing.T, k1 string, v1 float64, k2 string, v2 float64) {
		L := p.weigh.L
		L.SetGlobal("k1", luaString(k1))
		L.SetGlobal("v1", luaNumber(v1))
		L.SetGlobal("k2", luaString(k2))
		L.SetGlobal("v2", luaNumber(v2))
		w, err := p.Weigh(bs)
		if err != nil {
			return
		}
		for name, v := range w {
			if name != "a" && name != "b" {
				t.Fatalf("accepted unknown name %q", name)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("accepted weight %v", v)
			}
		}
	})
}
