package fleet

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Status is what an instance runs, as it publishes it to the status topic (key: the instance id).
type Status struct {
	Instance string `json:"instance"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	// Bundle is the version running since Since; BundleTime is when it was deployed.
	Bundle     string    `json:"bundle"`
	BundleTime time.Time `json:"bundle_time"`
	Since      time.Time `json:"since"`
	// Refused is the last version the instance could not run since it last swapped, and Reason why; both empty when
	// the instance runs the latest bundle it has seen.
	Refused string `json:"refused,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Shadow is the version of the shadow bundle running beside Bundle (empty: none); ShadowRefused and
	// ShadowReason are the last shadow bundle refused since.
	Shadow        string `json:"shadow,omitempty"`
	ShadowRefused string `json:"shadow_refused,omitempty"`
	ShadowReason  string `json:"shadow_reason,omitempty"`
	// Updated is when the status was published; an instance repeats it every status_interval.
	Updated time.Time `json:"updated"`
	// Stopped is set by an instance that shut down cleanly.
	Stopped bool `json:"stopped,omitempty"`
}

// PublishStatus writes s to the status topic.
func (c *Client) PublishStatus(ctx context.Context, s Status) error {
	value, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return c.write(ctx, c.cfg.StatusTopic, []byte(s.Instance), value)
}

// Statuses returns the last status of every instance that ever published one, by instance id.
func (c *Client) Statuses(ctx context.Context) ([]Status, error) {
	byID := map[string]Status{}
	_, err := c.readAll(ctx, c.cfg.StatusTopic, func(m kafka.Message) {
		var s Status
		if len(m.Value) == 0 || json.Unmarshal(m.Value, &s) != nil || s.Instance == "" {
			delete(byID, string(m.Key)) // a tombstone, or not a status
			return
		}
		byID[string(m.Key)] = s
	})
	out := make([]Status, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Instance, b.Instance) })
	return out, err
}

// Live reports whether s is an instance that runs now: not stopped, and heard from within three status intervals.
func (s Status) Live(now time.Time, interval time.Duration) bool {
	return !s.Stopped && now.Sub(s.Updated) < 3*interval
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
