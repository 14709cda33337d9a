package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
)

// Delivery of replayed letters: events to their source topics, alerts through the search sinks.

// deliverEvents writes the queued events to their source topics (acknowledged by every in-sync replica) and returns
// the letters delivered; on an error, those delivered before it.
func (r *replayer) deliverEvents(ctx context.Context) ([]*entry, error) {
	bySource := map[string][]pendingEvent{}
	for _, ev := range r.events {
		bySource[ev.source.Name] = append(bySource[ev.source.Name], ev)
	}
	var delivered []*entry
	for _, name := range slices.Sorted(maps.Keys(bySource)) {
		evs := bySource[name]
		w, err := r.writer(evs[0].source)
		if err != nil {
			return delivered, err
		}
		msgs := make([]kafka.Message, len(evs))
		for i, ev := range evs {
			msgs[i] = ev.msg
		}
		err = w.WriteMessages(ctx, msgs...)
		var werrs kafka.WriteErrors
		switch {
		case err == nil:
			for _, ev := range evs {
				delivered = append(delivered, ev.e)
			}
		case errors.As(err, &werrs) && len(werrs) == len(evs):
			for i, e := range werrs {
				if e == nil {
					delivered = append(delivered, evs[i].e)
				} else {
					err = e
				}
			}
			return delivered, fmt.Errorf("source %s: write to topic: %w", name, err)
		default:
			return delivered, fmt.Errorf("source %s: write to topic: %w", name, err)
		}
	}
	return delivered, nil
}

// writer returns the writer of a source's cluster: acks from every in-sync replica, each record to the partition its
// original came from.
func (r *replayer) writer(src *SourceConfig) (*kafka.Writer, error) {
	if w, ok := r.writers[src.Name]; ok {
		return w, nil
	}
	conn := src.Kafka.WithDefaults().Config
	tr, err := conn.Transport()
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(conn.Brokers...), Transport: tr, Balancer: kafka.BalancerFunc(originalPartition),
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: replayBatch,
		WriteTimeout: r.timeout, MaxAttempts: 3}
	if r.writers == nil {
		r.writers = map[string]*kafka.Writer{}
	}
	r.writers[src.Name] = w
	return w, nil
}

// originalPartition keeps a replayed record on its original partition (the message's Partition), which the topic
// still has: partitions are never removed.
func originalPartition(m kafka.Message, partitions ...int) int {
	if slices.Contains(partitions, m.Partition) {
		return m.Partition
	}
	return partitions[m.Partition%len(partitions)]
}

// deliverAlerts writes the queued alerts through every configured search sink and returns the letters whose alert
// every sink stored (a 409, already there, counts); an alert the index rejects again is refused, and its letter
// stays as it is.
func (r *replayer) deliverAlerts(ctx context.Context) ([]*entry, error) {
	if len(r.alerts) == 0 {
		return nil, nil
	}
	if err := r.openSearch(ctx); err != nil {
		return nil, err
	}
	alerts := make([]*vigil.Alert, len(r.alerts))
	for i, a := range r.alerts {
		alerts[i] = a.alert
	}
	for _, s := range r.search {
		created, dups := s.Stats.Created.Load(), s.Stats.Duplicates.Load()
		if err := s.Write(ctx, alerts); err != nil {
			return nil, fmt.Errorf("re-index %d alerts: %w", len(alerts), err)
		}
		r.created += int(s.Stats.Created.Load() - created)
		r.duplicates += int(s.Stats.Duplicates.Load() - dups)
	}
	rejected := r.rejected.take()
	var delivered []*entry
	for _, a := range r.alerts {
		if detail, ok := rejected[a.alert.ID]; ok {
			r.refuse(a.e, refuse("rejected again", "the index rejected the alert again: %s", detail))
			continue
		}
		delivered = append(delivered, a.e)
	}
	return delivered, nil
}

// openSearch builds the search sinks of the configuration, with the rejections as their dead-letter queue: a
// replayed alert that is rejected again is reported, not parked a second time.
func (r *replayer) openSearch(ctx context.Context) error {
	if r.search != nil {
		return nil
	}
	r.rejected = &rejections{byID: map[string]string{}}
	for _, cfg := range searchSinks(r.cfg) {
		s, err := sinks.NewElasticsearch(ctx, cfg, r.rejected, nil)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("no answer within %s: %w", r.timeout, err)
			}
			return fmt.Errorf("search sink %s: %w", strings.Join(cfg.URLs, ","), err)
		}
		r.search = append(r.search, s)
	}
	return nil
}
