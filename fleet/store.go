package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"
)

// Deployed is one record of the bundle topic: a bundle, or why the record could not be read.
type Deployed struct {
	Offset int64
	Bundle *Bundle
	// Err is set when the record is not a bundle (corrupt, or written by something else); Key then names it.
	Err error
	Key string
}

// Publish writes b to the bundle topic, where it becomes the bundle every instance runs. It refuses a bundle whose
// record would exceed MaxBundleBytes.
func (c *Client) Publish(ctx context.Context, b *Bundle) (int, error) {
	value, err := b.Encode()
	if err != nil {
		return 0, fmt.Errorf("fleet: encode bundle: %w", err)
	}
	if len(value) > c.cfg.MaxBundleBytes {
		return len(value), fmt.Errorf("fleet: bundle %s is %d bytes compressed, more than max_bundle_bytes (%d): "+
			"split the rules into fewer files' worth, or raise max_bundle_bytes with the topic's max.message.bytes",
			b.Version, len(value), c.cfg.MaxBundleBytes)
	}
	if err := c.write(ctx, c.cfg.Topic, []byte(b.Key()), value); err != nil {
		return len(value), fmt.Errorf("fleet: publish bundle %s: %w", b.Version, err)
	}
	return len(value), nil
}

// History returns the records of the bundle topic in deploy order (oldest first). Compaction keeps the latest deploy
// of each version, so a version appears once, at its latest deploy.
func (c *Client) History(ctx context.Context) ([]Deployed, error) {
	h, _, err := c.history(ctx)
	return h, err
}

// history is History and the end offset it read to.
func (c *Client) history(ctx context.Context) ([]Deployed, int64, error) {
	var out []Deployed
	end, err := c.readAll(ctx, c.cfg.Topic, func(m kafka.Message) {
		out = append(out, decodeDeployed(m))
	})
	return latestPerKey(out), end, err
}

// latestPerKey drops the records that a later record with the same key replaces (compaction may not have run yet).
func latestPerKey(ds []Deployed) []Deployed {
	last := map[string]int64{}
	for _, d := range ds {
		last[d.Key] = d.Offset
	}
	return slices.DeleteFunc(ds, func(d Deployed) bool { return last[d.Key] != d.Offset })
}

func decodeDeployed(m kafka.Message) Deployed {
	d := Deployed{Offset: m.Offset, Key: string(m.Key)}
	d.Bundle, d.Err = Decode(m.Value)
	if d.Err == nil && d.Bundle.Key() != d.Key {
		d.Bundle, d.Err = nil, fmt.Errorf("record key %q is not its bundle's version", d.Key)
	}
	return d
}

// Current is the last deployed live bundle, or nil when none was deployed (or the last record is not a bundle: Err).
func Current(history []Deployed) *Deployed { return last(history, false) }

// CurrentShadow is the last deployed shadow bundle, or nil.
func CurrentShadow(history []Deployed) *Deployed { return last(history, true) }

func last(history []Deployed, shadow bool) *Deployed {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].IsShadow() == shadow {
			return &history[i]
		}
	}
	return nil
}

// IsShadow reports whether the record is a shadow bundle's (by its key, which a record that cannot be read has too).
func (d Deployed) IsShadow() bool { return strings.HasPrefix(d.Key, ShadowKeyPrefix) }
