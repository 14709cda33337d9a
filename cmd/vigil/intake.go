package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigilsoc/vigil/intake"
)

// intakeFile is the configuration file of `vigil intake`: the intake: section, and log: and metrics: as for
// `vigil run`. configs/intake.example.yaml shows every option.
type intakeFile struct {
	// Intake configures the endpoints, the tokens, the quotas and the Kafka writer.
	Intake *intake.Config `yaml:"intake"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// Metrics serves /metrics, /healthz and /readyz on an address of their own, away from the partners' port.
	Metrics MetricsConfig `yaml:"metrics"`
}

const intakeUsage = `vigil intake -c FILE [--metrics-addr ADDR] [--web-config-file FILE] [--log-level LEVEL]
       vigil intake token --tenant T [--name NAME] [--expires 2027-01-01]`

func cmdIntake(args []string, io stdio) int {
	if len(args) > 0 && args[0] == "token" {
		return cmdIntakeToken(args[1:], io)
	}
	fs := newFlags("vigil intake", intakeUsage, io)
	df := addDaemonFlags(fs, "configuration file (YAML) with an intake: section")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *df.config == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := loadIntakeConfig(*df.config)
	if err != nil {
		fmt.Fprintln(io.err, "vigil:", err)
		return 1
	}
	df.override(&cfg.Log, &cfg.Metrics)
	log, err := newLogger(cfg.Log, io.err)
	if err != nil {
		fmt.Fprintln(io.err, "vigil:", err)
		return 2
	}
	if err := runIntake(cfg, log); err != nil {
		log.Error("vigil intake stopped", "err", err)
		return 1
	}
	return 0
}

// loadIntakeConfig reads, expands, parses (strictly), defaults and validates an intake configuration file.
func loadIntakeConfig(path string) (*intakeFile, error) {
	var c intakeFile
	if err := decodeConfig(path, &c); err != nil {
		return nil, err
	}
	if c.Intake == nil {
		return nil, fmt.Errorf("config %s: no intake: section", path)
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	*c.Intake = c.Intake.WithDefaults()
	if err := c.Intake.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: intake: %w", path, err)
	}
	return &c, nil
}

// runIntake serves until SIGINT or SIGTERM, then lets the accepted requests finish.
func runIntake(cfg *intakeFile, log *slog.Logger) error {
	mon := newMonitor(log)
	srv, err := intake.New(*cfg.Intake, intake.Options{Logger: log.With("component", "intake"), Registerer: mon.reg})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Check(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	mon.ready.set("intake", func() error { return srv.Ready(context.Background()) })
	if err := errors.Join(mon.serveWeb(cfg.Metrics.Addr, cfg.Metrics.WebConfigFile), srv.Serve()); err != nil {
		return err
	}
	defer mon.close()
	log.Info("vigil intake serving", "addr", srv.Addr(), "syslog", len(cfg.Intake.Syslog),
		"tls", cfg.Intake.TLS.CertFile != "", "topic", cfg.Intake.Kafka.Topic)
	limit := cfg.Intake.Timeouts.Shutdown
	go handleSignals(ctx, cancel, limit+shutdownGrace, log)
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), limit)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("vigil intake stopped: every accepted request was answered")
	return nil
}

// cmdIntakeToken prints a new partner token and the tokens file entry holding its hash.
func cmdIntakeToken(args []string, io stdio) int {
	fs := newFlags("vigil intake token", "vigil intake token --tenant T [--name NAME] [--expires 2027-01-01]", io)
	tenant := fs.String("tenant", "", "the tenant the token sends for (required)")
	name := fs.String("name", "", "a name for the token, shown in logs and the vigil.intake.credential header")
	expires := fs.String("expires", "", "expiry: a date (2027-01-01) or an RFC 3339 time")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *tenant == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	token, entry, err := intake.NewToken(*tenant, *name)
	if err == nil && *expires != "" {
		entry.Expires, err = parseExpiry(*expires)
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil:", err)
		return 2
	}
	fmt.Fprintf(io.out, "# token (give it to the partner; it is not stored anywhere):\n# %s\n", token)
	fmt.Fprintf(io.out, "# add to the tokens file, under tokens:\n  - tenant: %s\n", entry.Tenant)
	if entry.Name != "" {
		fmt.Fprintf(io.out, "    name: %s\n", entry.Name)
	}
	fmt.Fprintf(io.out, "    sha256: %s\n", entry.SHA256)
	if !entry.Expires.IsZero() {
		fmt.Fprintf(io.out, "    expires: %s\n", entry.Expires.Format(time.RFC3339))
	}
	return 0
}

func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: want 2027-01-01 or an RFC 3339 time", s)
	}
	return t, nil
}
