package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/sinks"
)

// connFlags are the connection flags every `vigil alerts` command shares: -c FILE takes the config's elasticsearch
// sink; otherwise --url and --flavor, with defaults and credentials from $VIGIL_SEARCH_*. Flags given with -c
// override the config.
type connFlags struct {
	fs       *pflag.FlagSet
	cfgPath  *string
	urls     *[]string
	flavor   *string
	prefix   *string
	caCert   *string
	insecure *bool
	timeout  *time.Duration
}

// addConnFlags adds the connection flags to fs.
func addConnFlags(fs *pflag.FlagSet) *connFlags {
	return &connFlags{fs: fs,
		cfgPath:  fs.StringP("config", "c", "", "take the connection from this config's elasticsearch sink"),
		urls:     fs.StringSlice("url", splitList(os.Getenv("VIGIL_SEARCH_URLS")), "search engine URL (repeatable)"),
		flavor:   fs.String("flavor", envOr("VIGIL_SEARCH_FLAVOR", sinks.FlavorElasticsearch), "elasticsearch or opensearch"),
		prefix:   fs.String("index-prefix", sinks.DefaultIndexPrefix, "alert index prefix (and alias)"),
		caCert:   fs.String("ca-cert", "", "PEM file of the certificate authorities to trust"),
		insecure: fs.Bool("insecure-skip-verify", false, "do not verify TLS certificates (UNSAFE)"),
		timeout:  fs.Duration("timeout", 30*time.Second, "give up after this long"),
	}
}

// config is the connection the flags (and the config file of -c) describe, defaults set and validated.
func (c *connFlags) config() (sinks.ElasticsearchConfig, error) {
	cfg := sinks.ElasticsearchConfig{Flavor: *c.flavor, URLs: *c.urls, IndexPrefix: *c.prefix, CACert: *c.caCert,
		InsecureSkipVerify: *c.insecure, Username: os.Getenv("VIGIL_SEARCH_USERNAME"),
		Password: os.Getenv("VIGIL_SEARCH_PASSWORD"), APIKey: os.Getenv("VIGIL_SEARCH_API_KEY")}
	if *c.cfgPath != "" {
		fc, err := searchConfigFrom(*c.cfgPath)
		if err != nil {
			return cfg, err
		}
		for name, set := range map[string]func(){"url": func() { fc.URLs = *c.urls }, "flavor": func() { fc.Flavor = *c.flavor },
			"index-prefix": func() { fc.IndexPrefix = *c.prefix }, "ca-cert": func() { fc.CACert = *c.caCert },
			"insecure-skip-verify": func() { fc.InsecureSkipVerify = *c.insecure }} {
			if c.fs.Changed(name) {
				set()
			}
		}
		cfg = fc
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w (set --url or $VIGIL_SEARCH_URLS, or -c FILE)", err)
	}
	return cfg, nil
}

// alertsConn is an open connection of a `vigil alerts` command: its context (cancelled by a signal or the
// timeout), the engine's configuration and a transport.
type alertsConn struct {
	ctx  context.Context
	cfg  sinks.ElasticsearchConfig
	tp   esapi.Transport
	path string // of -c, for hints
	stop func()
}

// open checks the flags and connects. On an error it has printed the error, prefixed by cmd, and code is the exit
// code to return. The caller calls conn.stop when done.
func (c *connFlags) open(cmd string, io stdio) (conn *alertsConn, code int) {
	cfg, err := c.config()
	if err != nil {
		fmt.Fprintln(io.err, cmd+":", err)
		return nil, 2
	}
	tp, err := sinks.NewSearchTransport(cfg)
	if err != nil {
		fmt.Fprintln(io.err, cmd+":", err)
		return nil, 1
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, *c.timeout)
	return &alertsConn{ctx: ctx, cfg: cfg, tp: tp, path: *c.cfgPath, stop: func() { cancel(); stopSignals() }}, 0
}

// fail prints err of a request, with a hint when the flavor is wrong, and returns exit code 1.
func (a *alertsConn) fail(cmd string, io stdio, err error) int {
	fmt.Fprintln(io.err, cmd+":", err)
	if hint := flavorHint(a.ctx, a.cfg, a.path, err); hint != "" {
		fmt.Fprintln(io.err, hint)
	}
	return 1
}
