// Package admin serves the balancer's admin listener (net/http, never the
// redirect listener): the status page, /status JSON, /metrics and /reload.
package admin

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ricochet/internal/engine"
)

//go:embed page.html
var pageFS embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"chart":  chart,
	"ms":     fmtMs,
	"pct":    func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"base":   filepath.Base,
	"weight": func(f float64) string { return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", f), "0"), ".") },
	"ago":    func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"deref":  func(s *string) string { return *s },
	"barpct": func(f float64) string { return fmt.Sprintf("%.1f", math.Min(100, f*100)) },
}).ParseFS(pageFS, "page.html"))

// Source is what the admin listener needs of the balancer.
type Source interface {
	Status() *engine.Status
	Reload(reason string) error
}

// Handler returns the admin HTTP handler.
func Handler(src Source, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := page.Execute(w, src.Status()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(src.Status())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := src.Reload("POST /reload"); err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true})
	})
	return mux
}

func fmtMs(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f ms", *v)
}

// chart draws a backend's latency history as an inline SVG line, with
// failed probes as red ticks on the baseline.
func chart(history []float64) template.HTML {
	const w, h, pad = 300.0, 60.0, 4.0
	top := 0.0
	for _, v := range history {
		top = math.Max(top, v)
	}
	if top <= 0 {
		top = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="latency history">`, w, h, w, h)
	fmt.Fprintf(&b, `<line x1="0" y1="%.1f" x2="%.0f" y2="%.1f" class="axis"/>`, h-pad, w, h-pad)
	n := len(history)
	step := w / 59
	var pts []string
	for i, v := range history {
		x := w - float64(n-1-i)*step
		if v < 0 {
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(pts, " "))
			}
			pts = pts[:0]
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="fail"/>`, x, h-pad, x, h-pad-10)
			continue
		}
		y := h - pad - (v/top)*(h-2*pad-10)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	if len(pts) > 1 {
		fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(pts, " "))
	} else if len(pts) == 1 {
		fmt.Fprintf(&b, `<circle cx="%s" r="2" class="dot"/>`, strings.Replace(pts[0], ",", `" cy="`, 1))
	}
	fmt.Fprintf(&b, `<text x="2" y="12" class="label">max %.1f ms</text></svg>`, top)
	return template.HTML(b.String())
}
