package bench

// E2EReport is the end-to-end benchmark's result.
type E2EReport struct {
	Machine        string      `json:"machine"`
	Events         int         `json:"events"`
	Tenants        int         `json:"tenants"`
	Partitions     int         `json:"partitions"`
	Topic          string      `json:"topic"`
	ProduceSeconds float64     `json:"produce_seconds"`
	Source         PartResult  `json:"kafka_source"`
	Rates          []E2ERate   `json:"rates"`
	Settings       RunSettings `json:"settings"`
	CatchUp        *CatchUp    `json:"catch_up,omitempty"`
	Scale          []Scale     `json:"scale,omitempty"`
}

// E2ERate is one alert rate's measurements.
type E2ERate struct {
	Rate      string     `json:"rate"`
	Rules     int        `json:"rules"`
	Alerts    int        `json:"alerts"`
	AlertPct  float64    `json:"alert_pct"`
	Detection PartResult `json:"detection"` // vigil replay over the same events
	Engines   []E2EEngine
	// Expected maps every alert id replay gives to its tenant.
	Expected map[string]string `json:"-"`
}

// E2EEngine is one rate on one search engine.
type E2EEngine struct {
	Flavor string     `json:"flavor"`
	Run    E2ERun     `json:"end_to_end"`
	Sink   PartResult `json:"vigil_sink"` // all alerts in one Write
	// SinkBatches is the sink fed as the pipeline feeds it: each batch's alerts in one Write, as many at once as
	// batches in flight.
	SinkBatches PartResult   `json:"vigil_sink_batches"`
	BulkDefault PartResult   `json:"bulk_indexer_default"`
	BulkBest    PartResult   `json:"bulk_indexer_best"`
	BulkSweep   []PartResult `json:"bulk_indexer_sweep"`
	Variants    []E2EVariant `json:"variants,omitempty"`
	// SlowestPart names the part with the lowest rate in events/s (an indexing rate counts alerts: divided by the
	// alert fraction), SlowestPerSec is that rate.
	SlowestPart   string  `json:"slowest_part"`
	SlowestPerSec float64 `json:"slowest_events_per_sec"`
	// EndToEndRatio is the end-to-end events/s ÷ SlowestPerSec; SinkRatio is Vigil's sink ÷ the best BulkIndexer.
	EndToEndRatio float64 `json:"end_to_end_vs_slowest"`
	SinkRatio     float64 `json:"sink_vs_best_bulk_indexer"`
	// PartsCPU is the CPU seconds per 1,000 events the parts alone cost (the source's per record, detection's per
	// event, the sink's per alert times the alerts per event); CPURatio is that ÷ Vigil's CPU per 1,000 events end
	// to end (1: the whole path costs what its parts cost, lower: it costs more).
	PartsCPU float64 `json:"parts_cpu_s_per_1000"`
	CPURatio float64 `json:"parts_cpu_vs_end_to_end"`
}

// E2ERun is one `vigil run` from the first record read to lag 0 with every alert searchable.
type E2ERun struct {
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	AlertsPerSec float64 `json:"alerts_per_sec"`
	// LagZeroSeconds is from the first record read to the group's lag first seen at 0 (every batch written and
	// committed), before the engine's refresh makes the last alerts searchable; LagZeroPerSec the events/s to it.
	LagZeroSeconds float64 `json:"lag_zero_seconds"`
	LagZeroPerSec  float64 `json:"lag_zero_events_per_sec"`
	// CPU seconds per 1,000 events over the same span (-1: not measured), and Vigil's peak RSS.
	VigilCPU     float64 `json:"vigil_cpu_s_per_1000"`
	KafkaCPU     float64 `json:"kafka_cpu_s_per_1000"`
	SearchCPU    float64 `json:"search_cpu_s_per_1000"`
	VigilPeakRSS int64   `json:"vigil_peak_rss_bytes"`
	// The accounting, after the run: documents stored, expected alerts missing, ids stored more than once, ids
	// stored that replay does not give, and dead letters.
	Stored      int    `json:"stored"`
	Missing     int    `json:"missing"`
	Duplicated  int    `json:"duplicated"`
	Unexpected  int    `json:"unexpected"`
	DeadLetters int    `json:"dead_letters"`
	IndexPrefix string `json:"index_prefix"`
	// From Vigil's metrics: batches, their mean sink write time, and the rule evaluation time (summed per batch).
	Batches       int     `json:"batches"`
	WriteMeanMS   float64 `json:"write_mean_ms"`
	DetectSeconds float64 `json:"detect_seconds"`
}
