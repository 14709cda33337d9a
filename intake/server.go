package intake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Server is `vigil intake`: the HTTP endpoints and the syslog listeners in front of one Kafka writer.
type Server struct {
	cfg     Config
	log     *slog.Logger
	writer  Writer
	tokens  *Tokens
	certs   certTenants
	quotas  *quotas
	metrics *metrics
	tls     *tls.Config
	probe   func(context.Context) error // Kafka reachable; nil in tests without Kafka

	kafkaOK   atomic.Bool  // the last probe or write succeeded
	lastProbe atomic.Int64 // unix nanoseconds of the last probe
	draining  atomic.Bool

	http    *http.Server
	syslogs []*syslogListener
	wg      sync.WaitGroup
	done    chan struct{}
}

// Options are a Server's collaborators.
type Options struct {
	// Writer receives the records; nil builds a kafka-go Writer from cfg.Kafka.
	Writer Writer
	// Tokens are the partners' tokens; nil loads cfg.TokensFile.
	Tokens *Tokens
	// Logger receives start-up, reload and connection problems (never a token); nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics (metrics.go); nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// New builds a server from a validated configuration. It reads the certificates and the tokens file, and connects
// to nothing: call Check to verify Kafka before serving.
func New(cfg Config, opts Options) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: opts.Logger, writer: opts.Writer, tokens: opts.Tokens, done: make(chan struct{}),
		certs:  certTenants{field: cfg.TLS.ClientTenant, prefix: cfg.TLS.ClientTenantPrefix, suffix: cfg.TLS.ClientTenantSuffix},
		quotas: newQuotas(cfg.Quotas)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.tls, err = cfg.TLS.serverTLS(); err != nil {
		return nil, err
	}
	if s.tokens == nil {
		if s.tokens, err = LoadTokens(cfg.TokensFile, s.log); err != nil {
			return nil, err
		}
	}
	if s.writer == nil {
		if s.writer, err = NewKafkaWriter(cfg.Kafka, cfg.Limits.MaxEventBytes); err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		s.probe = func(ctx context.Context) error { return cfg.Kafka.Check(ctx) }
	}
	s.kafkaOK.Store(true)
	if s.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	return s, nil
}

// Check verifies that Kafka is reachable and authenticates, and that the topics exist; a start-up check.
func (s *Server) Check(ctx context.Context, topics ...string) error {
	return s.cfg.Kafka.Check(ctx, topics...)
}

// Handler serves the HTTP endpoints: HEC, _bulk and the Elasticsearch probes, NDJSON, and /healthz, /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.hecRoutes(mux)
	s.esRoutes(mux)
	mux.HandleFunc("POST /v1/events", s.handleNDJSON)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.handleReady)
	return mux
}

// Serve listens on the configured addresses and serves until Shutdown. It returns once the listeners are bound, or
// the error that kept one from binding.
func (s *Server) Serve() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	if err := s.startSyslog(); err != nil {
		ln.Close()
		return err
	}
	t := s.cfg.Timeouts
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read,
		WriteTimeout: t.Read + s.cfg.Kafka.WriteTimeout, IdleTimeout: t.Idle, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.cfg.Listen = ln.Addr().String()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("intake HTTP server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.tokens.Watch(s.done, s.cfg.TokensReload)
	}()
	return nil
}

// Addr is the HTTP listener's address, once serving.
func (s *Server) Addr() string { return s.cfg.Listen }

// Shutdown stops accepting, lets the requests and syslog batches in progress finish (each waits for Kafka's
// acknowledgement) within ctx, and returns. Requests still running when ctx ends are cut off unanswered: their
// clients retry them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	close(s.done)
	// Every listener stops accepting at once, then waits for its own work in progress: a syslog listener must not
	// take new connections while an HTTP request drains.
	syslogErrs := make(chan error, len(s.syslogs))
	for _, l := range s.syslogs {
		go func() { syslogErrs <- l.shutdown(ctx) }()
	}
	var errs []error
	if s.http != nil {
		errs = append(errs, s.http.Shutdown(ctx))
	}
	for range s.syslogs {
		errs = append(errs, <-syslogErrs)
	}
	s.wg.Wait()
	if c, ok := s.writer.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// handleReady answers 200 while Kafka is reachable and the server is not draining.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Ready returns nil while the server should receive traffic, else why not (/readyz).
func (s *Server) Ready(ctx context.Context) error { return s.ready(ctx) }

// ready says why the server should not receive traffic, if it should not: draining, or Kafka unreachable. Kafka is
// probed at most every 5 s; a failed write marks it unreachable until the next successful probe.
func (s *Server) ready(ctx context.Context) error {
	if s.draining.Load() {
		return errors.New("shutting down")
	}
	if s.probe != nil && time.Since(time.Unix(0, s.lastProbe.Load())) > 5*time.Second {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := s.probe(ctx)
		s.lastProbe.Store(time.Now().UnixNano())
		s.kafkaOK.Store(err == nil)
		if err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
	}
	if !s.kafkaOK.Load() {
		return errors.New("kafka: the last write was not acknowledged")
	}
	return nil
}

// kafkaFailed records a write Kafka did not acknowledge: /readyz says so until a probe succeeds.
func (s *Server) kafkaFailed(err error) {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return
	}
	s.kafkaOK.Store(false)
	s.lastProbe.Store(0)
	s.log.Warn("kafka write failed", "err", err)
}
