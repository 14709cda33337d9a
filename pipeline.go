package vigil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Pipeline moves batches from a Source through the Detector and the Enrichers into the Sink, and acknowledges each
// batch once everything it produced is stored or dead-lettered (DESIGN.md section 1).
//
// Several batches may be in flight at once, but acks are applied strictly in the order the batches were read, so a
// source never commits past a batch that is still being written. Waiting for the sink is the backpressure: when the
// sink is slow or down, Run stops reading.
type Pipeline struct {
	Source      Source
	Detector    Detector
	Enrichers   []Enricher
	Sink        Sink
	DeadLetters DeadLetterQueue
	// Correlator, when set, takes every batch's enriched alerts in read order and adds the correlation alerts they
	// complete; alerts marked Internal are written nowhere. At the end of the source (io.EOF) it is flushed.
	Correlator Correlator

	// Workers is the number of goroutines evaluating rules on one batch; 0 means GOMAXPROCS.
	Workers int
	// MaxInFlight is the number of batches processed concurrently; 0 means 2.
	MaxInFlight int
	// DrainTimeout bounds how long in-flight batches may take to finish once Run's context is cancelled; 0 waits
	// without limit. Batches that do not finish are not acked and are read again after a restart.
	DrainTimeout time.Duration
	// EnrichTimeout bounds the enrichment of one alert; an enricher still running then is recorded as skipped.
	// 0 means no bound.
	EnrichTimeout time.Duration

	// Stats counts the pipeline's work; safe to read while Run runs.
	Stats PipelineStats
}

// PipelineStats are the pipeline's counters.
type PipelineStats struct {
	Batches      atomic.Int64
	Events       atomic.Int64
	Invalid      atomic.Int64
	Alerts       atomic.Int64
	Correlations atomic.Int64 // correlation alerts written, rewrites included
	DeadLetters  atomic.Int64
	Acked        atomic.Int64
	InFlight     atomic.Int64
	EnrichSkips  atomic.Int64
	WriteSeconds atomic.Int64 // total sink write time in microseconds
	DetectNanos  atomic.Int64 // total rule evaluation time in nanoseconds, measured per batch
}

// batch is one Read's worth of events on its way through the pipeline.
type batch struct {
	events []*Event
	ack    AckFunc
	done   chan struct{}
	err    error
	// turn is closed when the previous batch has been through the Correlator, correlated when this one has: the
	// Correlator sees batches in read order although they are processed concurrently.
	turn, correlated chan struct{}
	// prevWritten is closed when the previous batch's alerts are written, written when this batch's and all before
	// it are: a batch with alerts that rewrite earlier ones (Alert.Update) writes only after the batches before it,
	// so the newest version of an alert is the last one stored.
	prevWritten, written chan struct{}
}

// Run processes batches until the source is exhausted (io.EOF), ctx is cancelled, or a batch fails. On cancellation
// it stops reading and lets in-flight batches finish and be acked (within DrainTimeout). It returns nil after a clean
// end, and the first error otherwise.
func (p *Pipeline) Run(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	if p.DrainTimeout > 0 {
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(p.DrainTimeout, cancelWork) })
		defer stop()
	}
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()

	queue := make(chan *batch, max(p.MaxInFlight, 2)-1)
	ackDone := make(chan error, 1)
	go func() { ackDone <- p.ackInOrder(workCtx, queue, stopReading) }()

	readErr := p.readLoop(readCtx, workCtx, queue)
	close(queue)
	ackErr := <-ackDone
	switch {
	case ackErr != nil:
		return ackErr
	case errors.Is(readErr, io.EOF) && p.Correlator != nil:
		return p.flush(workCtx)
	case readErr != nil && !errors.Is(readErr, io.EOF) && ctx.Err() == nil:
		return readErr
	}
	return nil
}

// flush decides the Correlator's open windows once the source is exhausted and writes the alerts that gives.
func (p *Pipeline) flush(ctx context.Context) error {
	alerts, err := p.Correlator.Flush(ctx)
	if err != nil {
		return fmt.Errorf("pipeline: flush correlations: %w", err)
	}
	if err := p.write(ctx, p.finish(ctx, nil, alerts)); err != nil {
		return fmt.Errorf("pipeline: write alerts: %w", err)
	}
	return nil
}

func (p *Pipeline) readLoop(readCtx, workCtx context.Context, queue chan<- *batch) error {
	turn, written := make(chan struct{}), make(chan struct{})
	close(turn)
	close(written)
	for {
		events, ack, err := p.Source.Read(readCtx)
		if len(events) > 0 {
			b := &batch{events: events, ack: ack, done: make(chan struct{}), turn: turn, correlated: make(chan struct{}),
				prevWritten: written, written: make(chan struct{})}
			turn, written = b.correlated, b.written
			p.Stats.Batches.Add(1)
			p.Stats.InFlight.Add(1)
			go p.process(workCtx, b)
			queue <- b // blocks while MaxInFlight batches are in flight: backpressure
		}
		if err != nil {
			return err
		}
		if readCtx.Err() != nil {
			return readCtx.Err()
		}
	}
}

// ackInOrder waits for each batch in read order and acks it. The first failed batch stops all further acks and calls
// stopReading; the queue is still drained so the reader never blocks.
func (p *Pipeline) ackInOrder(ctx context.Context, queue <-chan *batch, stopReading func()) error {
	var failed error
	for b := range queue {
		<-b.done
		p.Stats.InFlight.Add(-1)
		for _, ev := range b.events {
			ev.Fields.Release() // the batch is finished: its events' trees can be reused by the next decode
		}
		if failed != nil {
			continue
		}
		if b.err == nil && b.ack != nil {
			if err := b.ack(ctx); err != nil {
				b.err = fmt.Errorf("pipeline: ack: %w", err)
			}
		}
		if b.err != nil {
			failed = b.err
			stopReading()
			continue
		}
		p.Stats.Acked.Add(int64(len(b.events)))
	}
	return failed
}

// process runs one batch through detection, enrichment and the sink. It records its error on the batch.
func (p *Pipeline) process(ctx context.Context, b *batch) {
	defer close(b.done)
	defer func() { <-b.prevWritten; close(b.written) }()
	correlated := sync.OnceFunc(func() { close(b.correlated) })
	defer correlated() // also when this batch fails: its successors fail at the ack anyway
	p.Stats.Events.Add(int64(len(b.events)))
	var letters []DeadLetter
	valid := b.events[:0:0]
	for _, ev := range b.events {
		if ev.Invalid != "" {
			letters = append(letters, EventDeadLetter(ev))
			continue
		}
		valid = append(valid, ev)
	}
	p.Stats.Invalid.Add(int64(len(letters)))
	detectStart := time.Now()
	alerts := p.detect(valid)
	p.Stats.DetectNanos.Add(int64(time.Since(detectStart)))
	p.Stats.Alerts.Add(int64(len(alerts)))
	for _, a := range alerts {
		p.enrich(ctx, a)
	}
	if p.Correlator != nil {
		<-b.turn
		more, err := p.Correlator.Correlate(ctx, alerts)
		correlated()
		if err != nil {
			b.err = fmt.Errorf("pipeline: correlate: %w", err)
			return
		}
		alerts = p.finish(ctx, alerts, more)
		if slices.ContainsFunc(alerts, func(a *Alert) bool { return a.Update }) {
			<-b.prevWritten
		}
	}
	if err := p.write(ctx, alerts); err != nil {
		b.err = fmt.Errorf("pipeline: write alerts: %w", err)
		return
	}
	if len(letters) > 0 {
		if p.DeadLetters == nil {
			b.err = fmt.Errorf("pipeline: %d invalid events and no dead-letter queue configured", len(letters))
			return
		}
		if err := p.DeadLetters.Park(ctx, letters); err != nil {
			b.err = fmt.Errorf("pipeline: park dead letters: %w", err)
			return
		}
		p.Stats.DeadLetters.Add(int64(len(letters)))
	}
}

// finish enriches the correlation alerts and adds them to the batch's alerts less the internal ones.
func (p *Pipeline) finish(ctx context.Context, alerts, correlated []*Alert) []*Alert {
	kept := alerts[:0]
	for _, a := range alerts {
		if !a.Internal {
			kept = append(kept, a)
		}
	}
	for _, a := range correlated {
		if !a.Enriched {
			p.enrich(ctx, a)
		}
		if !a.Internal {
			kept = append(kept, a)
			p.Stats.Correlations.Add(1)
		}
	}
	return kept
}

// write hands alerts to the sink, timing it.
func (p *Pipeline) write(ctx context.Context, alerts []*Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	start := time.Now()
	if err := p.Sink.Write(ctx, alerts); err != nil {
		return err
	}
	p.Stats.WriteSeconds.Add(time.Since(start).Microseconds())
	return nil
}

// detect evaluates the rules on every event, spreading the events over the workers in chunks. The alerts come out in
// the order of their events (the Correlator's lateness depends on that order, so it must not depend on scheduling).
func (p *Pipeline) detect(events []*Event) []*Alert {
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	const chunk = 16
	chunks := (len(events) + chunk - 1) / chunk
	workers = min(workers, chunks)
	if workers <= 1 {
		var out []*Alert
		for _, ev := range events {
			out = p.Detector.Detect(ev, out)
		}
		return out
	}
	parts := make([][]*Alert, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				for _, ev := range events[c*chunk : min((c+1)*chunk, len(events))] {
					parts[c] = p.Detector.Detect(ev, parts[c])
				}
			}
		}()
	}
	wg.Wait()
	var out []*Alert
	for _, part := range parts {
		out = append(out, part...)
	}
	return out
}

// enrich runs every enricher on a; an enricher that fails or times out is recorded under vigil.enrichment.skipped.
func (p *Pipeline) enrich(ctx context.Context, a *Alert) {
	if len(p.Enrichers) == 0 {
		return
	}
	if p.EnrichTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.EnrichTimeout)
		defer cancel()
	}
	var skipped []any
	for _, e := range p.Enrichers {
		if err := e.Enrich(ctx, a); err != nil {
			skipped = append(skipped, e.Name())
			p.Stats.EnrichSkips.Add(1)
		}
	}
	if len(skipped) > 0 {
		Object(a.Doc, "vigil")["enrichment"] = map[string]any{"skipped": skipped}
	}
}

// EventDeadLetter makes the dead letter for an invalid event.
func EventDeadLetter(ev *Event) DeadLetter {
	reason, detail := ev.Invalid, ev.Invalid
	for i := 0; i < len(reason); i++ {
		if reason[i] == ':' {
			reason = reason[:i]
			break
		}
	}
	return DeadLetter{Kind: "event", Reason: reason, Detail: detail, Payload: ev.Raw, Origin: ev.Origin, Tenant: ev.Tenant}
}
