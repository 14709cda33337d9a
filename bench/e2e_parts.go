package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/sinks"
)

// PartResult is the rate of one part measured alone.
type PartResult struct {
	Part    string  `json:"part"`
	Items   int     `json:"items"` // records, events or alerts
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_sec"`
	Workers int     `json:"workers,omitempty"` // bulk indexing: requests in flight
	// CPUSeconds is the CPU time of the measuring process (replay: of the replay processes) over the measurement;
	// ServerCPUSeconds the search engine's, for the indexing parts. Per CPU second, rates are far steadier than per
	// wall second on a machine shared with other work.
	CPUSeconds       float64 `json:"cpu_seconds"`
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
}

func part(name string, items int, took, cpu time.Duration) PartResult {
	return PartResult{Part: name, Items: items, Seconds: took.Seconds(), PerSec: float64(items) / took.Seconds(),
		CPUSeconds: cpu.Seconds()}
}

// PerCPUSecond is the items per CPU second of the measuring process.
func (p PartResult) PerCPUSecond() float64 {
	if p.CPUSeconds <= 0 {
		return 0
	}
	return float64(p.Items) / p.CPUSeconds
}

// MeasureSource reads n records with Vigil's Kafka source (cfg as `vigil run` gets it; a fresh group) and returns the
// rate from the first record to the n-th: fetching, decoding and the acks' commits, as in `vigil run` without rules
// and sink. Each batch's trees are released as the pipeline does.
func MeasureSource(ctx context.Context, cfg ingest.KafkaConfig, tenants []string, n int) (PartResult, error) {
	src, err := ingest.NewKafka(ctx, "bench", cfg, ingest.KafkaOptions{Tenants: tenants})
	if err != nil {
		return PartResult{}, err
	}
	defer src.Close()
	var start time.Time
	var cpu0 time.Duration
	got, invalid := 0, 0
	for got < n {
		events, ack, err := src.Read(ctx)
		if err != nil {
			return PartResult{}, fmt.Errorf("kafka source: %d of %d records read: %w", got, n, err)
		}
		if got == 0 {
			start, cpu0 = time.Now(), cpuTime()
		}
		for _, ev := range events {
			if ev.Invalid != "" {
				invalid++
			}
		}
		got += len(events)
		if err := ack(ctx); err != nil {
			return PartResult{}, fmt.Errorf("kafka source: ack: %w", err)
		}
		for _, ev := range events {
			ev.Fields.Release()
		}
	}
	if invalid > 0 {
		return PartResult{}, fmt.Errorf("kafka source: %d of %d records invalid", invalid, n)
	}
	// The first batch's own gathering is not timed: count the records after it.
	return part("kafka source", got, time.Since(start), cpuTime()-cpu0), nil
}

// AlertDoc is one alert document as `vigil replay` writes it, with what places it in an index.
type AlertDoc struct {
	ID, Tenant string
	Time       time.Time
	Line       []byte // the document as replay encoded it
}

// ReadAlertDocs reads replay's output file.
func ReadAlertDocs(path string) ([]AlertDoc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AlertDoc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var doc struct {
			Vigil struct {
				Alert struct {
					ID           string    `json:"id"`
					Tenant       string    `json:"tenant"`
					OriginalTime time.Time `json:"original_time"`
				} `json:"alert"`
			} `json:"vigil"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		a := doc.Vigil.Alert
		out = append(out, AlertDoc{ID: a.ID, Tenant: a.Tenant, Time: a.OriginalTime, Line: bytes.Clone(sc.Bytes())})
	}
	return out, sc.Err()
}

// Alerts turns the documents into alerts for a sink, their documents decoded into maps (as a JSON document decoded
// by encoding/json; the sink encodes them again).
func Alerts(docs []AlertDoc) ([]*vigil.Alert, error) {
	out := make([]*vigil.Alert, len(docs))
	for i, d := range docs {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(d.Line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		out[i] = &vigil.Alert{ID: d.ID, Tenant: d.Tenant, Time: d.Time, Doc: m}
	}
	return out, nil
}

// MeasureSink writes alerts with Vigil's search sink (cfg as `vigil run` gets it), in Writes of perWrite alerts with
// inFlight Writes at once, as the pipeline hands it batches, and returns the alerts/s.
func MeasureSink(ctx context.Context, cfg sinks.ElasticsearchConfig, alerts []*vigil.Alert, perWrite, inFlight int) (PartResult, error) {
	s, err := sinks.NewElasticsearch(ctx, cfg, nil, nil)
	if err != nil {
		return PartResult{}, err
	}
	defer s.Close()
	perWrite = max(perWrite, 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, inFlight)
	start, cpu0 := time.Now(), cpuTime()
	for range max(inFlight, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)-1) * perWrite
				if i >= len(alerts) {
					return
				}
				if err := s.Write(ctx, alerts[i:min(i+perWrite, len(alerts))]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	took, cpu := time.Since(start), cpuTime()-cpu0
	close(errs)
	if err := <-errs; err != nil {
		return PartResult{}, err
	}
	if d := s.Stats.DeadLettered.Load() + s.Stats.Duplicates.Load(); d > 0 {
		return PartResult{}, fmt.Errorf("vigil sink: %d alerts dead-lettered or already stored", d)
	}
	r := part("vigil sink", len(alerts), took, cpu)
	r.Workers = cfg.Workers
	return r, nil
}

// MeasureBulkIndexer indexes the same documents with go-elasticsearch's esutil.BulkIndexer, `create` with the alert
// id into the index the sink would choose (prefix, tenant, day), encoding each document from its map as a Go user
// would (encoding/json), with workers requests in flight (0: the helper's default, one per CPU) and its other
// settings at their defaults. Every item must be created.
func MeasureBulkIndexer(ctx context.Context, cfg sinks.ElasticsearchConfig, alerts []*vigil.Alert, workers int) (PartResult, error) {
	tp, err := sinks.NewSearchTransport(cfg)
	if err != nil {
		return PartResult{}, err
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: tp, NumWorkers: workers,
		OnError: func(_ context.Context, err error) { firstErr.CompareAndSwap(nil, err.Error()) }})
	if err != nil {
		return PartResult{}, err
	}
	start, cpu0 := time.Now(), cpuTime()
	for _, a := range alerts {
		body, err := json.Marshal(a.Doc)
		if err != nil {
			return PartResult{}, err
		}
		err = bi.Add(ctx, esutil.BulkIndexerItem{Action: "create", Index: sinks.IndexName(cfg.IndexPrefix, a.Tenant, a.Time),
			DocumentID: a.ID, Body: bytes.NewReader(body),
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
				if err == nil {
					err = fmt.Errorf("status %d: %s: %s", res.Status, res.Error.Type, res.Error.Reason)
				}
				firstErr.CompareAndSwap(nil, err.Error())
			}})
		if err != nil {
			return PartResult{}, err
		}
	}
	if err := bi.Close(ctx); err != nil {
		return PartResult{}, err
	}
	took, cpu := time.Since(start), cpuTime()-cpu0
	st := bi.Stats()
	if failed.Load() > 0 || int(st.NumCreated) != len(alerts) {
		return PartResult{}, fmt.Errorf("esutil.BulkIndexer: %d of %d created, %d failed (first: %v)", st.NumCreated, len(alerts),
			failed.Load(), firstErr.Load())
	}
	r := part("esutil.BulkIndexer", len(alerts), took, cpu)
	r.Workers = workers
	return r, nil
}
