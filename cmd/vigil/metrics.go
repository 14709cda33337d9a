package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil/ingest"
)

// monitor is how `vigil run` and `vigil replay` report on themselves: a Prometheus registry of their own (never the
// global one), the readiness checks behind /readyz, and the HTTP server for both when an address is configured
// (docs/operations.md lists every metric).
//
// Nothing here is called per event. The collectors read the counters that the pipeline, the rule engine, the
// sources and the sinks keep anyway, at scrape time; the wrappers around sources, sinks and the dead-letter queue
// count once per batch.
type monitor struct {
	reg   *prometheus.Registry
	ready *readiness
	log   *slog.Logger
	srv   *http.Server
	addr  string // the address the server listens on, once serving

	pipelines *pipelineCollector
}

// newMonitor returns a monitor whose registry holds the Go runtime, process and build metrics.
func newMonitor(log *slog.Logger) *monitor {
	m := &monitor{reg: prometheus.NewRegistry(), ready: &readiness{}, log: log, pipelines: newPipelineCollector()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_build_info", Help: "Always 1; the labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}}, func() float64 { return 1 }),
		m.pipelines)
	return m
}

// serve starts the HTTP server on addr, in the background, plain HTTP without authentication; an empty addr serves
// nothing. See serveWeb.
func (m *monitor) serve(addr string) error { return m.serveWeb(addr, "") }

// serveWeb starts the HTTP server on addr, in the background; an empty addr serves nothing. webConfigFile is
// Prometheus' web configuration file (github.com/prometheus/exporter-toolkit, as for --web.config.file of the
// Prometheus exporters): TLS (tls_server_config), basic authentication (basic_auth_users, bcrypt hashes) and HTTP
// headers for every endpoint, re-read on each connection so certificates can be rotated; empty means plain HTTP
// without authentication.
//
// It fails when the web configuration is wrong (a missing certificate, a password that is not a bcrypt hash) or the
// address cannot be bound, so a typo or a port in use stops start-up instead of leaving the process unobservable:
// the toolkit's ListenAndServe would only report them from the serving goroutine, so the listener is bound here and
// handed to the toolkit's Serve, which ListenAndServe calls for each of its listeners.
func (m *monitor) serveWeb(addr, webConfigFile string) error {
	if addr == "" {
		return nil
	}
	if err := web.Validate(webConfigFile); err != nil {
		return fmt.Errorf("metrics: web config %s: %w", webConfigFile, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	m.addr = ln.Addr().String()
	m.srv = &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{m.addr}, WebSystemdSocket: &systemd, WebConfigFile: &webConfigFile}
	toolkitLog := slog.New(levelAtLeast{m.log.Handler(), slog.LevelWarn}) // its "Listening on" lines repeat ours
	go func() {
		if err := web.Serve(ln, m.srv, flags, toolkitLog); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics server stopped", "err", err)
		}
	}()
	scheme, auth := "http", "none"
	if webConfigFile != "" {
		scheme, auth = "https", "web config "+webConfigFile
		if plain, _ := webConfigPlain(webConfigFile); plain {
			scheme = "http"
		}
	}
	m.log.Info("serving metrics and health checks", "addr", m.addr, "scheme", scheme, "auth", auth,
		"endpoints", "/metrics /healthz /readyz")
	return nil
}

// webConfigPlain says whether a (valid) web configuration file leaves TLS off.
func webConfigPlain(path string) (bool, error) {
	var c struct {
		TLS web.TLSConfig `yaml:"tls_server_config"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return false, err
	}
	return !c.TLS.IsEnabled(), nil
}

// levelAtLeast passes on the records of at least a level.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}

// close stops the HTTP server, giving scrapes in progress a moment to finish.
func (m *monitor) close() {
	if m.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
}

// handler serves /metrics (Prometheus text or OpenMetrics), /healthz (200 while the process runs) and /readyz (200
// once the rules are loaded and every source and sink is connected, 503 with the reasons otherwise and during
// shutdown).
func (m *monitor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg,
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelError), EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, report := m.ready.report()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, report)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><body><h1>Vigil</h1><a href="metrics">/metrics</a> <a href="healthz">/healthz</a> `+
			`<a href="readyz">/readyz</a></body></html>`)
	})
	return mux
}

// register adds a collector to the registry; a duplicate is a programming error.
func (m *monitor) register(c prometheus.Collector) { m.reg.MustRegister(c) }

// readiness is the list of checks behind /readyz, in the order they were added. A check is a function so that it
// can look at live state (a Kafka source that has not joined its group yet, a shutdown in progress).
type readiness struct {
	mu     sync.Mutex
	names  []string
	checks map[string]func() error
}

// set adds or replaces the check called name; nil means "ready".
func (r *readiness) set(name string, check func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = map[string]func() error{}
	}
	if _, ok := r.checks[name]; !ok {
		r.names = append(r.names, name)
	}
	r.checks[name] = check
}

// remove drops the check called name.
func (r *readiness) remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.checks[name]; !ok {
		return
	}
	delete(r.checks, name)
	for i, n := range r.names {
		if n == name {
			r.names = append(r.names[:i:i], r.names[i+1:]...)
			break
		}
	}
}

// pending marks name as not ready yet, for the reason why.
func (r *readiness) pending(name, why string) {
	err := errors.New(why)
	r.set(name, func() error { return err })
}

// report runs the checks: ok when all pass (and there is at least one), and one line per check in the style of
// Kubernetes' /readyz?verbose.
func (r *readiness) report() (ok bool, text string) {
	r.mu.Lock()
	names := append([]string(nil), r.names...)
	checks := make([]func() error, len(names))
	for i, n := range names {
		checks[i] = r.checks[n]
	}
	r.mu.Unlock()
	var b strings.Builder
	ok = len(names) > 0
	for i, n := range names {
		if checks[i] == nil {
			fmt.Fprintf(&b, "[+]%s ok\n", n)
			continue
		}
		if err := checks[i](); err != nil {
			ok = false
			fmt.Fprintf(&b, "[-]%s: %v\n", n, err)
			continue
		}
		fmt.Fprintf(&b, "[+]%s ok\n", n)
	}
	if ok {
		b.WriteString("ready\n")
	} else {
		b.WriteString("not ready\n")
	}
	return ok, b.String()
}

// readyUntil makes the process unready once ctx is done: a draining Vigil should not be counted as serving.
func (r *readiness) readyUntil(ctx context.Context) {
	r.set("shutdown", func() error {
		if ctx.Err() != nil {
			return errors.New("shutting down")
		}
		return nil
	})
}

// kafkaReady is a Kafka source's readiness: connected (NewKafka checked the brokers) and a member of its group.
func kafkaReady(k *ingest.Kafka) func() error {
	return func() error {
		if k.Stats.Generations.Load() == 0 {
			return errors.New("not yet a member of the consumer group")
		}
		return nil
	}
}
