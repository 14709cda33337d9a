package hunt

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// FindSpans finds the offsets of the records of in's topics between since and until (zero: the end of each
// partition now), with Kafka's offsets-for-times. It only reads metadata and offsets.
func FindSpans(ctx context.Context, in Input, since, until time.Time) ([]Span, error) {
	cfg := in.Kafka.WithDefaults()
	transport, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.ConnectTimeout}
	var topics []string
	for _, t := range cfg.Topics {
		topics = append(topics, t.Name)
	}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	parts := map[string][]int{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
		sort.Ints(parts[t.Name])
	}
	ends, err := listOffsets(ctx, client, parts, kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	starts, err := offsetsAt(ctx, client, parts, since, ends)
	if err != nil {
		return nil, err
	}
	stops := ends
	if !until.IsZero() {
		if stops, err = offsetsAt(ctx, client, parts, until, ends); err != nil {
			return nil, err
		}
	}
	var spans []Span
	for _, topic := range topics {
		for _, p := range parts[topic] {
			k := tp{topic, p}
			spans = append(spans, Span{Source: in.Name, Topic: topic, Partition: p, Start: starts[k], End: max(starts[k], stops[k])})
		}
	}
	return spans, nil
}

type tp struct {
	topic     string
	partition int
}

// offsetsAt returns, per partition, the first offset whose record timestamp is at or after t, or the partition's end
// when there is none.
func offsetsAt(ctx context.Context, client *kafka.Client, parts map[string][]int, t time.Time, ends map[tp]int64) (map[tp]int64, error) {
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: requests(parts, func(p int) kafka.OffsetRequest {
		return kafka.TimeOffsetOf(p, t)
	})})
	if err != nil {
		return nil, fmt.Errorf("offsets at %s: %w", t.Format(time.RFC3339), err)
	}
	out := map[tp]int64{}
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("offsets at %s: %s[%d]: %w", t.Format(time.RFC3339), topic, p.Partition, p.Error)
			}
			k := tp{topic, p.Partition}
			out[k] = ends[k] // no record at or after t
			for off := range p.Offsets {
				if off >= 0 {
					out[k] = off
				}
			}
		}
	}
	return out, nil
}

// listOffsets returns the offsets of one special kind (kafka.LastOffsetOf, kafka.FirstOffsetOf) per partition.
func listOffsets(ctx context.Context, client *kafka.Client, parts map[string][]int, of func(int) kafka.OffsetRequest) (map[tp]int64, error) {
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: requests(parts, of)})
	if err != nil {
		return nil, fmt.Errorf("offsets: %w", err)
	}
	out := map[tp]int64{}
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("offsets: %s[%d]: %w", topic, p.Partition, p.Error)
			}
			out[tp{topic, p.Partition}] = max(p.FirstOffset, p.LastOffset)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("offsets: no partitions")
	}
	return out, nil
}

func requests(parts map[string][]int, of func(int) kafka.OffsetRequest) map[string][]kafka.OffsetRequest {
	req := map[string][]kafka.OffsetRequest{}
	for topic, ps := range parts {
		for _, p := range ps {
			req[topic] = append(req[topic], of(p))
		}
	}
	return req
}
