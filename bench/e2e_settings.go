package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/sinks"
)

// E2EVariant is an end-to-end run with other settings.
type E2EVariant struct {
	Settings RunSettings `json:"settings"`
	Run      E2ERun      `json:"end_to_end"`
}

// String says what a variant changes.
func (s RunSettings) String() string {
	var parts []string
	if s.BatchSize > 0 {
		parts = append(parts, fmt.Sprintf("batch_size=%d", s.BatchSize))
	}
	if s.MaxInFlight > 0 {
		parts = append(parts, fmt.Sprintf("max_in_flight=%d", s.MaxInFlight))
	}
	if s.RetryMaxBackoff > 0 {
		parts = append(parts, fmt.Sprintf("retry_max_backoff=%s", s.RetryMaxBackoff))
	}
	if s.Workers > 0 {
		parts = append(parts, fmt.Sprintf("workers=%d", s.Workers))
	}
	if s.FlushInterval > 0 {
		parts = append(parts, fmt.Sprintf("flush_interval=%s", s.FlushInterval))
	}
	if len(parts) == 0 {
		return "defaults"
	}
	return strings.Join(parts, ",")
}

// ParseRunSettings reads settings written as String writes them: key=value pairs, comma-separated.
func ParseRunSettings(text string) (RunSettings, error) {
	var s RunSettings
	for _, kv := range strings.Split(text, ",") {
		if kv = strings.TrimSpace(kv); kv == "" || kv == "defaults" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "retry_max_backoff" || k == "flush_interval" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return s, fmt.Errorf("setting %q: want a positive duration", kv)
			}
			if k == "flush_interval" {
				s.FlushInterval = d
			} else {
				s.RetryMaxBackoff = d
			}
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("setting %q: want key=positive number", kv)
		}
		switch k {
		case "batch_size":
			s.BatchSize = n
		case "max_in_flight":
			s.MaxInFlight = n
		case "workers":
			s.Workers = n
		default:
			return s, fmt.Errorf("setting %q: unknown key (batch_size, max_in_flight, workers, flush_interval, retry_max_backoff)", kv)
		}
	}
	return s, nil
}

// RunSettings are the settings of `vigil run` a tuning run overrides; zero keeps the default.
type RunSettings struct {
	BatchSize   int `json:"batch_size,omitempty"`    // sources[].kafka.batch_size
	MaxInFlight int `json:"max_in_flight,omitempty"` // pipeline.max_in_flight
	// RetryMaxBackoff is sinks[].elasticsearch.retry_max_backoff: the longest wait between retries while the
	// engine is away, so also how late the sink may notice it is back.
	RetryMaxBackoff time.Duration `json:"retry_max_backoff,omitempty"`
	// Workers is sinks[].elasticsearch.workers (bulk requests in flight), FlushInterval its flush_interval (how long a
	// request that is not full waits for alerts of other batches).
	Workers       int           `json:"workers,omitempty"`
	FlushInterval time.Duration `json:"flush_interval,omitempty"`
}

func (s RunSettings) sinkYAML() string {
	var b strings.Builder
	if s.RetryMaxBackoff > 0 {
		fmt.Fprintf(&b, ", retry_max_backoff: %s", s.RetryMaxBackoff)
	}
	if s.Workers > 0 {
		fmt.Fprintf(&b, ", workers: %d", s.Workers)
	}
	if s.FlushInterval > 0 {
		fmt.Fprintf(&b, ", flush_interval: %s", s.FlushInterval)
	}
	return b.String()
}

// sink applies the sink settings to cfg, as `vigil run` gets them from sinkYAML.
func (s RunSettings) sink(cfg sinks.ElasticsearchConfig) sinks.ElasticsearchConfig {
	if s.RetryMaxBackoff > 0 {
		cfg.RetryMaxBackoff = s.RetryMaxBackoff
	}
	if s.Workers > 0 {
		cfg.Workers = s.Workers
	}
	if s.FlushInterval > 0 {
		cfg.FlushInterval = &s.FlushInterval
	}
	return cfg
}

func (s RunSettings) sourceYAML() string {
	if s.BatchSize > 0 {
		return fmt.Sprintf("      batch_size: %d\n", s.BatchSize)
	}
	return ""
}

func (s RunSettings) pipelineYAML() string {
	if s.MaxInFlight > 0 {
		return fmt.Sprintf("pipeline: {max_in_flight: %d}\n", s.MaxInFlight)
	}
	return ""
}

// batch returns the batch size and the batches in flight `vigil run` uses with these settings.
func (s RunSettings) batch() (size, inFlight int) {
	size, inFlight = 1000, 4 // the defaults of ingest.KafkaConfig and of the pipeline (cmd/vigil/config.go)
	if s.BatchSize > 0 {
		size = s.BatchSize
	}
	if s.MaxInFlight > 0 {
		inFlight = s.MaxInFlight
	}
	return size, inFlight
}
