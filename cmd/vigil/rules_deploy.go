package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/fleet"
	"github.com/vigilsoc/vigil/rules"
)

// The fleet commands of `vigil rules`: deploy, status, history and rollback (docs/fleet.md). They read the rules
// block of a `vigil run` configuration for the bundle and status topics and the Kafka connection.

// fleetFlags are the flags every fleet command has.
type fleetFlags struct {
	config *string
}

// open loads the configuration and connects to the bundle and status topics.
func (f fleetFlags) open(ctx context.Context) (*Config, *fleet.Client, error) {
	cfg, err := loadConfig(*f.config)
	if err != nil {
		return nil, nil, err
	}
	fc := cfg.Rules.Config
	if fc.Kafka == nil || len(fc.Kafka.Brokers) == 0 {
		for _, s := range cfg.Sources {
			if s.Kafka != nil {
				conn := s.Kafka.Config
				fc.Kafka = &conn
				break
			}
		}
	}
	client, err := fleet.Open(ctx, fc)
	return cfg, client, err
}

func cmdRulesDeploy(args []string, io stdio) int {
	fs := newFlags("vigil rules deploy", "vigil rules deploy -c FILE [--message M] [--author A] [--exceptions PATH] [--wait D] PATH...", io)
	ff := fleetFlags{config: fs.StringP("config", "c", "", "configuration file: its rules block names the topics, its Kafka source the connection, its enrich block the lookup tables of the tests")}
	message := fs.StringP("message", "m", "", "why this deploy (shown by vigil rules history)")
	author := fs.String("author", defaultAuthor(), "who deploys")
	exceptions := addExceptionsFlag(fs)
	wait := fs.Duration("wait", 0, "wait this long for every live instance to run the bundle (0: do not wait); exit 1 if one refuses it or is still behind")
	shadow := fs.Bool("shadow", false, "deploy as the shadow bundle: its rules run beside the live ones, in shadow mode (alerts to vigil-shadow-*, never notified)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *ff.config == "" || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	testArgs := []string{"--enrich", *ff.config}
	if p := exceptions.paths(); p != nil {
		testArgs = append(testArgs, "--exceptions", strings.Join(p, ","))
	}
	if code := cmdRulesTest(append(testArgs, fs.Args()...), io); code != 0 {
		fmt.Fprintln(io.err, "vigil rules deploy: nothing deployed: the rules do not validate or their tests fail")
		return 1
	}
	ctx := context.Background()
	cfg, client, err := ff.open(ctx)
	if err != nil {
		fmt.Fprintln(io.err, "vigil rules deploy:", err)
		return 1
	}
	defer client.Close()
	b, err := fleet.Build(fs.Args(), exceptions.paths())
	if err == nil {
		b.Shadow = *shadow
		err = compileForFleet(cfg, b)
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil rules deploy: nothing deployed:", err)
		return 1
	}
	b.Author, b.Message, b.Time = *author, *message, time.Now().UTC()
	start := time.Now()
	size, err := client.Publish(ctx, b)
	if err != nil {
		fmt.Fprintln(io.err, "vigil rules deploy:", err)
		return 1
	}
	kind := "bundle"
	if b.Shadow {
		kind = "shadow bundle"
	}
	fmt.Fprintf(io.out, "deployed %s %s (%d files, %d bytes compressed) to %s\n", kind, b.Version, len(b.Files), size, client.Config().Topic)
	if err := waitRollout(ctx, client, b, start, *wait, io); err != nil {
		fmt.Fprintln(io.err, "vigil rules deploy:", err)
		return 1
	}
	return 0
}

// compileForFleet compiles b as the instances will: in the configuration's rule environment.
func compileForFleet(cfg *Config, b *fleet.Bundle) error {
	enr, err := newEnrichment(cfg.Enrich)
	if err != nil {
		return err
	}
	env, err := newRuleEnv(rules.WithCostLimit(cfg.Rules.CostLimit), enr.ruleLibrary())
	if err != nil {
		return err
	}
	_, err = b.Compile(env)
	return err
}

func defaultAuthor() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil {
		return name + "@" + host
	}
	return name
}

// waitRollout waits until every live instance runs b (as its live or its shadow bundle) or refuses it, for up to
// wait, and prints the outcome.
func waitRollout(ctx context.Context, client *fleet.Client, b *fleet.Bundle, start time.Time, wait time.Duration, io stdio) error {
	if wait <= 0 {
		return nil
	}
	deadline := start.Add(wait)
	for {
		statuses, err := client.Statuses(ctx)
		if err != nil {
			return err
		}
		running, refused, behind := rolloutState(statuses, b, client.Config().StatusInterval)
		if behind == 0 || time.Now().After(deadline) {
			fmt.Fprintf(io.out, "after %s: %d instance(s) run %s, %d refused it, %d still behind\n",
				time.Since(start).Round(time.Millisecond), running, b.Version, refused, behind)
			if refused > 0 || behind > 0 {
				return errRollout
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rolloutState counts the live instances that run b, that refused it, and the others. An empty shadow bundle (stop
// shadowing) runs where no shadow bundle runs.
func rolloutState(statuses []fleet.Status, b *fleet.Bundle, interval time.Duration) (running, refused, behind int) {
	now := time.Now()
	for _, s := range statuses {
		runs, refusal := s.Bundle, s.Refused
		want := b.Version
		if b.Shadow {
			runs, refusal = s.Shadow, s.ShadowRefused
			if len(b.Files) == 0 {
				want = ""
			}
		}
		switch {
		case !s.Live(now, interval):
		case runs == want:
			running++
		case refusal == b.Version:
			refused++
		default:
			behind++
		}
	}
	return running, refused, behind
}

// runFleetCommand parses the flags of a fleet command that takes at most maxArgs arguments, connects to the topics
// of the -c configuration, reads the bundle history and calls run; errors are printed with the command's name.
func runFleetCommand(fs *pflag.FlagSet, ff fleetFlags, args []string, maxArgs int, io stdio,
	run func(ctx context.Context, cfg *Config, client *fleet.Client, history []fleet.Deployed) error) int {
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *ff.config == "" || fs.NArg() > maxArgs {
		fs.Usage()
		return 2
	}
	ctx := context.Background()
	cfg, client, err := ff.open(ctx)
	if err == nil {
		defer client.Close()
		var history []fleet.Deployed
		if history, err = client.History(ctx); err == nil {
			err = run(ctx, cfg, client, history)
		}
	}
	if err != nil {
		fmt.Fprintf(io.err, "%s: %v\n", fs.Name(), err)
		return 1
	}
	return 0
}

// errRollout is returned when `--wait` saw an instance refuse the bundle or stay behind (already printed).
var errRollout = errors.New("not every live instance runs the bundle")

func addFleetConfigFlag(fs *pflag.FlagSet) fleetFlags {
	return fleetFlags{config: fs.StringP("config", "c", "", "configuration file (rules block and Kafka connection)")}
}

func cmdRulesStatus(args []string, io stdio) int {
	fs := newFlags("vigil rules status", "vigil rules status -c FILE [--all]", io)
	ff := addFleetConfigFlag(fs)
	all := fs.Bool("all", false, "also list instances that stopped or have not been heard from")
	return runFleetCommand(fs, ff, args, 0, io, func(ctx context.Context, _ *Config, client *fleet.Client, history []fleet.Deployed) error {
		statuses, err := client.Statuses(ctx)
		if err != nil {
			return err
		}
		current := "(none)"
		if c := fleet.Current(history); c != nil && c.Bundle != nil {
			current = c.Bundle.Version
			fmt.Fprintf(io.out, "latest bundle: %s, deployed %s by %s: %s\n", current, c.Bundle.Time.Format(time.RFC3339), c.Bundle.Author, c.Bundle.Message)
		}
		printStatuses(io, statuses, current, client.Config().StatusInterval, *all)
		return nil
	})
}

// printStatuses prints one line per instance (the live ones, or all) and a summary of who is behind.
func printStatuses(io stdio, statuses []fleet.Status, current string, interval time.Duration, all bool) {
	now := time.Now()
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSTATE\tBUNDLE\tSINCE\tSEEN\tREFUSED\tREASON\tSHADOW")
	live, behind := 0, 0
	for _, s := range statuses {
		state := "live"
		switch {
		case s.Stopped:
			state = "stopped"
		case !s.Live(now, interval):
			state = "silent"
		}
		if state == "live" {
			live++
			if s.Bundle != current {
				behind++
				state = "live, behind"
			}
		} else if !all {
			continue
		}
		shadow := s.Shadow
		if s.ShadowRefused != "" {
			shadow += " (refused " + s.ShadowRefused + ": " + short(s.ShadowReason) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\t%s\t%s\n", s.Instance, state, s.Bundle, s.Since.Format(time.RFC3339),
			now.Sub(s.Updated).Round(time.Second), s.Refused, short(s.Reason), shadow)
	}
	tw.Flush()
	fmt.Fprintf(io.out, "%d live instance(s), %d behind the latest bundle %s\n", live, behind, current)
}

// short is a refusal reason on one line, cut at 120 characters.
func short(reason string) string {
	reason = strings.ReplaceAll(reason, "\n", " ")
	if len(reason) > 120 {
		reason = reason[:120] + "..."
	}
	return reason
}

func cmdRulesHistory(args []string, io stdio) int {
	fs := newFlags("vigil rules history", "vigil rules history -c FILE", io)
	return runFleetCommand(fs, addFleetConfigFlag(fs), args, 0, io, func(_ context.Context, _ *Config, _ *fleet.Client, history []fleet.Deployed) error {
		printHistory(io, history)
		return nil
	})
}

func printHistory(io stdio, history []fleet.Deployed) {
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tVERSION\tDEPLOYED\tAUTHOR\tFILES\tMESSAGE")
	current, shadow := fleet.Current(history), fleet.CurrentShadow(history)
	for _, d := range history {
		mark := ""
		switch {
		case current != nil && d.Offset == current.Offset:
			mark = "*"
		case shadow != nil && d.Offset == shadow.Offset:
			mark = "*shadow"
		case d.IsShadow():
			mark = "shadow"
		}
		if d.Bundle == nil {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\tunreadable record at offset %d: %v\n", mark, d.Key, d.Offset, d.Err)
			continue
		}
		b := d.Bundle
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", mark, b.Version, b.Time.Format(time.RFC3339), b.Author, len(b.Files), b.Message)
	}
	tw.Flush()
}

// publishFlags are the flags of the commands that publish a bundle they make: why, who, and how long to wait.
type publishFlags struct {
	message, author *string
	wait            *time.Duration
}

func addPublishFlags(fs *pflag.FlagSet) publishFlags {
	return publishFlags{message: fs.StringP("message", "m", "", "why"), author: fs.String("author", defaultAuthor(), "who"),
		wait: fs.Duration("wait", 0, "wait this long for every live instance to run the bundle (0: do not wait)")}
}

// publish stamps b with the author, the time and the message (what, then the --message), publishes it, prints
// done, and waits for the rollout when --wait is set.
func (p publishFlags) publish(ctx context.Context, client *fleet.Client, b *fleet.Bundle, what, done string, io stdio) error {
	b.Author, b.Message, b.Time = *p.author, what, time.Now().UTC()
	if *p.message != "" {
		b.Message = strings.TrimPrefix(b.Message+": "+*p.message, ": ")
	}
	start := time.Now()
	if _, err := client.Publish(ctx, b); err != nil {
		return err
	}
	fmt.Fprintln(io.out, done)
	return waitRollout(ctx, client, b, start, *p.wait, io)
}

func cmdRulesRollback(args []string, io stdio) int {
	fs := newFlags("vigil rules rollback", "vigil rules rollback -c FILE [--message M] [--wait D] [VERSION]", io)
	ff := addFleetConfigFlag(fs)
	pf := addPublishFlags(fs)
	return runFleetCommand(fs, ff, args, 1, io, func(ctx context.Context, cfg *Config, client *fleet.Client, history []fleet.Deployed) error {
		target, err := rollbackTarget(history, fs.Arg(0))
		if err != nil {
			return err
		}
		if err := compileForFleet(cfg, target); err != nil {
			return err
		}
		b := *target
		return pf.publish(ctx, client, &b, "rollback to "+target.Version, fmt.Sprintf("deployed bundle %s again (first deployed %s by %s)",
			b.Version, target.Time.Format(time.RFC3339), target.Author), io)
	})
}

// rollbackTarget is the bundle whose version starts with version, or without one the bundle deployed before the
// latest.
func rollbackTarget(history []fleet.Deployed, version string) (*fleet.Bundle, error) {
	history = slices.DeleteFunc(slices.Clone(history), fleet.Deployed.IsShadow)
	if version == "" {
		for i := len(history) - 2; i >= 0; i-- {
			if history[i].Bundle != nil {
				return history[i].Bundle, nil
			}
		}
		return nil, fmt.Errorf("no earlier bundle to roll back to (%d in the history)", len(history))
	}
	var found *fleet.Bundle
	for _, d := range history {
		if d.Bundle != nil && strings.HasPrefix(d.Bundle.Version, version) {
			if found != nil && found.Version != d.Bundle.Version {
				return nil, fmt.Errorf("version %q is ambiguous (%s, %s)", version, found.Version, d.Bundle.Version)
			}
			found = d.Bundle
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no bundle %q in the history (see vigil rules history)", version)
	}
	return found, nil
}
