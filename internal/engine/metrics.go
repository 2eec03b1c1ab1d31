package engine

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the balancer's Prometheus metrics. Redirect counts live in
// atomics on the hot path and are read only when scraped.
type Metrics struct {
	Registry      *prometheus.Registry
	engine        *Engine
	probeLatency  *prometheus.HistogramVec
	weighDuration prometheus.Histogram
	pickDuration  prometheus.Histogram
	reloadLatency prometheus.Histogram
	policyErrors  *prometheus.CounterVec
	reloads       *prometheus.CounterVec

	redirectsDesc   *prometheus.Desc
	unavailableDesc *prometheus.Desc
	healthyDesc     *prometheus.Desc
	weightDesc      *prometheus.Desc
	roundDesc       *prometheus.Desc
}

func newMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		probeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ricochet_probe_duration_seconds", Help: "Duration of successful performance tests.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"backend"}),
		weighDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ricochet_policy_call_duration_seconds", Help: "Duration of policy calls.",
			ConstLabels: prometheus.Labels{"call": "weigh"}, Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}),
		pickDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ricochet_policy_call_duration_seconds", Help: "Duration of policy calls.",
			ConstLabels: prometheus.Labels{"call": "pick"}, Buckets: prometheus.ExponentialBuckets(0.000001, 4, 10),
		}),
		reloadLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ricochet_reload_duration_seconds", Help: "Time from reading the files to the new weights answering.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
		}),
		policyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ricochet_policy_errors_total", Help: "Policy calls that failed (error, time limit, bad result).",
		}, []string{"call"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ricochet_reloads_total", Help: "Reloads of the config and policy by result.",
		}, []string{"result"}),
		redirectsDesc: prometheus.NewDesc("ricochet_redirects_total", "Redirects answered, by backend and status.",
			[]string{"backend", "status"}, nil),
		unavailableDesc: prometheus.NewDesc("ricochet_unavailable_total", "Requests answered 503: no healthy backend.", nil, nil),
		healthyDesc:     prometheus.NewDesc("ricochet_backend_healthy", "1 when the backend takes traffic.", []string{"backend"}, nil),
		weightDesc:      prometheus.NewDesc("ricochet_backend_weight", "The backend's weight in effect.", []string{"backend"}, nil),
		roundDesc:       prometheus.NewDesc("ricochet_probe_rounds_total", "Probe rounds completed.", nil, nil),
	}
	m.policyErrors.WithLabelValues("weigh")
	m.policyErrors.WithLabelValues("pick")
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	m.Registry.MustRegister(m.probeLatency, m.weighDuration, m.pickDuration, m.reloadLatency, m.policyErrors, m.reloads, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Describe implements prometheus.Collector for the values read at scrape time.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.redirectsDesc
	ch <- m.unavailableDesc
	ch <- m.healthyDesc
	ch <- m.weightDesc
	ch <- m.roundDesc
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.engine.Status()
	status := strconv.Itoa(st.Config.RedirectStatus)
	for _, b := range st.Backends {
		ch <- prometheus.MustNewConstMetric(m.redirectsDesc, prometheus.CounterValue, float64(b.Redirects), b.Name, status)
		h := 0.0
		if b.Healthy {
			h = 1
		}
		ch <- prometheus.MustNewConstMetric(m.healthyDesc, prometheus.GaugeValue, h, b.Name)
		ch <- prometheus.MustNewConstMetric(m.weightDesc, prometheus.GaugeValue, b.Weight, b.Name)
	}
	ch <- prometheus.MustNewConstMetric(m.unavailableDesc, prometheus.CounterValue, float64(st.Unavailable))
	ch <- prometheus.MustNewConstMetric(m.roundDesc, prometheus.CounterValue, float64(st.Round))
}
