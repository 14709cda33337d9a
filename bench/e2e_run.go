package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
)

// runConfig is `vigil run`'s configuration: the defaults but for the names, a fresh group, no replica, and the
// settings E2EOptions.Settings overrides.
const runConfig = `rules: {paths: [%q]}
tenants: [%s]
sources:
  - name: bench
    type: kafka
    kafka:
      brokers: [%q]
      group_id: %q
      topics: [{name: %q, multi_tenant: true}]
%ssinks:
  - type: elasticsearch
    elasticsearch: {flavor: %s, urls: [%q], index_prefix: %q, replicas: 0%s}
%sdead_letter: {type: file, path: %q}
metrics: {addr: %q}
log: {level: warn, format: json}
`

// endToEnd runs `vigil run` over the topic into the engine and times it from the first record read (its metrics say
// so) until the group's lag is 0 and the indices hold as many documents as replay gives alerts; then it checks the
// stored ids against replay's.
func (o *E2EOptions) endToEnd(ctx context.Context, w E2EWorkload, rep *E2EReport, rate *E2ERate,
	alerts []*vigil.Alert, mapping json.RawMessage, dir string, t SearchTarget, prefix, tag string, settings RunSettings) (E2ERun, error) {
	run := E2ERun{IndexPrefix: prefix, KafkaCPU: -1, SearchCPU: -1}
	name := t.Flavor + "-" + tag // of the files of this run
	tp, err := sinks.NewSearchTransport(searchConfig(t, prefix))
	if err != nil {
		return run, err
	}
	if !o.Keep {
		defer func() { _ = DeleteIndices(context.WithoutCancel(ctx), tp, prefix+"-*", prefix) }()
	}
	if err := PrepareIndices(ctx, searchConfig(t, prefix), alerts, mapping); err != nil {
		return run, err
	}
	spec := runSpec{dir: dir, name: name, group: prefix + "-group", topic: rep.Topic, url: t.URL, prefix: prefix,
		settings: settings}
	if o.Profile != "" {
		spec.env = []string{"VIGIL_CPUPROFILE=" + filepath.Join(o.Profile, filepath.Base(dir)+"-"+name+".cpu.pprof")}
	}
	vr, err := o.startVigilRun(w, t, spec)
	if err != nil {
		return run, err
	}
	defer vr.stop()
	cmd, exited, metrics, group := vr.cmd, vr.exited, vr.metrics, spec.group
	fail := func(err error) (E2ERun, error) {
		log, _ := os.ReadFile(vr.log.Name())
		return run, fmt.Errorf("%w\nvigil run log (%s):\n%s", err, vr.log.Name(), tail(log, 30))
	}
	deadline := time.Now().Add(o.Timeout)
	pids := processes(cmd.Process.Pid, o.Kafka, t.URL)
	// The clock starts when the first records are read.
	for {
		if n, err := metricValue(ctx, metrics, "vigil_events_read_total"); err == nil && n > 0 {
			break
		}
		select {
		case err := <-exited:
			return run, vr.exit(err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("no record read within %s", o.Timeout))
		}
	}
	start, cpu0 := time.Now(), pids.cpu()
	want := int64(len(rate.Expected))
	for {
		lag, lagErr := GroupLag(ctx, o.Kafka, group, rep.Topic, rep.Partitions)
		count, countErr := CountDocs(ctx, tp, prefix+"-*")
		if lagErr == nil && lag == 0 && run.LagZeroSeconds == 0 {
			run.LagZeroSeconds = time.Since(start).Seconds()
			run.LagZeroPerSec = float64(len(w.Events)) / run.LagZeroSeconds
		}
		if lagErr == nil && countErr == nil && lag == 0 && count >= want {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("after %s: lag %d (%v), %d of %d alerts searchable (%v)", o.Timeout, lag, lagErr, count, want, countErr))
		}
		select {
		case err := <-exited:
			return run, vr.exit(err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	took, cpu1 := time.Since(start), pids.cpu()
	run.pipelineFigures(ctx, metrics)
	run.Seconds = took.Seconds()
	run.EventsPerSec = float64(len(w.Events)) / took.Seconds()
	run.AlertsPerSec = float64(want) / took.Seconds()
	per1000 := func(i int) float64 {
		if cpu0[i] < 0 || cpu1[i] < 0 {
			return -1
		}
		return (cpu1[i] - cpu0[i]) * 1000 / float64(len(w.Events))
	}
	run.VigilCPU, run.KafkaCPU, run.SearchCPU = per1000(0), per1000(1), per1000(2)
	run.VigilPeakRSS, _ = PeakRSS(cmd.Process.Pid)
	if err := vr.stop(); err != nil {
		return fail(fmt.Errorf("vigil run after SIGTERM: %v", err))
	}
	if err := run.account(ctx, tp, prefix, rate.Expected, spec.letters()); err != nil {
		return run, err
	}
	return run, nil
}

// vigilRun is a `vigil run` the benchmark started, with its configuration and log in the run's folder.
type vigilRun struct {
	cmd     *exec.Cmd
	log     *os.File
	metrics string // the address of its /metrics
	exited  chan error
	done    bool
	err     error
}

// runSpec is what differs between the benchmark's `vigil run` processes.
type runSpec struct {
	dir, name    string // the rate's folder (its rules.yml), the files' base name
	group, topic string
	url, prefix  string // the search engine's URL and the index prefix
	settings     RunSettings
	env          []string
}

// startVigilRun writes the configuration of spec (runConfig) and starts `vigil run` on it; its dead letters go to
// <name>.deadletters.jsonl, its output to <name>.log.
func (o *E2EOptions) startVigilRun(w E2EWorkload, t SearchTarget, spec runSpec) (*vigilRun, error) {
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	config := filepath.Join(spec.dir, spec.name+".yaml")
	text := fmt.Sprintf(runConfig, filepath.Join(spec.dir, "rules.yml"), strings.Join(w.Tenants, ", "), o.Kafka, spec.group,
		spec.topic, spec.settings.sourceYAML(), t.Flavor, spec.url, spec.prefix, spec.settings.sinkYAML(),
		spec.settings.pipelineYAML(), spec.letters(), metrics)
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(spec.dir, spec.name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Vigil, "run", "-c", config)
	cmd.Stdout, cmd.Stderr = log, log
	if spec.env != nil {
		cmd.Env = append(os.Environ(), spec.env...)
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	r := &vigilRun{cmd: cmd, log: log, metrics: metrics, exited: make(chan error, 1)}
	go func() { r.exited <- cmd.Wait() }()
	return r, nil
}

func (s runSpec) letters() string { return filepath.Join(s.dir, s.name+".deadletters.jsonl") }

// exit records that the process has exited with err (received from r.exited) and returns an error saying so, with
// the end of its log.
func (r *vigilRun) exit(err error) error {
	r.done, r.err = true, err
	log, _ := os.ReadFile(r.log.Name())
	return fmt.Errorf("vigil run exited: %v\nits log (%s):\n%s", err, r.log.Name(), tail(log, 30))
}

// stop sends SIGTERM and waits for the exit (a minute, then it kills); it returns the exit's error. Safe to call
// again, and after exit.
func (r *vigilRun) stop() error {
	if !r.done {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case r.err = <-r.exited:
		case <-time.After(60 * time.Second):
			_ = r.cmd.Process.Kill()
			r.err = <-r.exited
		}
		r.done = true
		r.log.Close()
	}
	return r.err
}

// account compares the stored ids with the expected ones and counts the dead letters.
func (run *E2ERun) account(ctx context.Context, tp esapi.Transport, prefix string, expected map[string]string, letters string) error {
	stored, err := StoredIDs(ctx, tp, prefix+"-*")
	if err != nil {
		return fmt.Errorf("read back the stored ids: %w", err)
	}
	for id, n := range stored {
		run.Stored += n
		if n > 1 {
			run.Duplicated++
		}
		if _, ok := expected[id]; !ok {
			run.Unexpected++
		}
	}
	for id := range expected {
		if stored[id] == 0 {
			run.Missing++
		}
	}
	if data, err := os.ReadFile(letters); err == nil {
		run.DeadLetters = strings.Count(string(data), "\n")
	}
	return nil
}

// pipelineFigures reads from `vigil run`'s metrics where its batches' time went: the batches, their mean write
// time (the sink's Write, from its start to every alert stored) and the rule evaluation time.
func (run *E2ERun) pipelineFigures(ctx context.Context, addr string) {
	get := func(name string) float64 {
		v, _ := metricValue(ctx, addr, name)
		return v
	}
	batches := get("vigil_batches_total")
	run.Batches = int(batches)
	if n := get("vigil_sink_write_seconds_count"); n > 0 {
		run.WriteMeanMS = 1000 * get("vigil_sink_write_seconds_sum") / n
	}
	run.DetectSeconds = get("vigil_rule_evaluation_seconds_total")
}

// pidSet is Vigil's, the broker's and the search engine's process (-1: not found).
type pidSet [3]int

func processes(vigil int, kafka, search string) pidSet {
	s := pidSet{vigil, -1, -1}
	for i, addr := range []string{kafka, search} {
		if pid, err := ListeningPID(port(addr)); err == nil {
			s[i+1] = pid
		}
	}
	return s
}

func (s pidSet) cpu() [3]float64 {
	var out [3]float64
	for i, pid := range s {
		out[i] = -1
		if pid > 0 {
			if v, err := CPUSeconds(pid); err == nil {
				out[i] = v
			}
		}
	}
	return out
}

// metricValue sums the samples of a metric (every label set) on a Prometheus text endpoint.
func metricValue(ctx context.Context, addr, name string) (float64, error) {
	v, _, err := metricSum(ctx, addr, name)
	return v, err
}

// metricSamples counts the samples of a metric (its label sets) on a Prometheus text endpoint.
func metricSamples(ctx context.Context, addr, name string) (int, error) {
	_, n, err := metricSum(ctx, addr, name)
	return n, err
}

func metricSum(ctx context.Context, addr, name string) (float64, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	var sum float64
	n := 0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
			n++
		}
	}
	return sum, n, sc.Err()
}

// freeAddr returns a loopback address with a port free now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tail(b []byte, lines int) string {
	s := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(s[max(0, len(s)-lines):], "\n")
}
