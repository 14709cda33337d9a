// Package vigil holds the vocabulary of the Vigil detection pipeline: the Event read from a source, the Alert written
// to a sink, and the four interfaces the pipeline is built from (Source, Detector, Enricher, Sink).
//
// Data flows one way: a Source yields a batch of decoded events, the Detector turns matches into alerts, Enrichers add
// context, the Sink stores them, and only then is the batch acknowledged back to the source. The implementations live
// in the sibling packages ingest, rules, enrich and sinks; cmd/vigil wires them together.
package vigil

import (
	"context"
	"time"

	"github.com/vigilsoc/vigil/fields"
)

// Event is one record read from a source, decoded once.
type Event struct {
	// Raw is the record exactly as it was received; kept for the dead-letter queue and for identity hashing.
	Raw []byte
	// Fields is the decoded JSON object, read in place by the rules (package fields): JSON integers stay integers,
	// and keys containing dots are expanded into nested objects ("file.path" becomes file → path). The pipeline
	// releases it for reuse once the event's batch is finished (fields.Value.Release), so nothing may keep it, or a
	// value read from it, beyond that; strings read from it stay valid.
	Fields fields.Value
	// Origin says where the record came from.
	Origin Origin
	// Tenant is the partner organization the event belongs to.
	Tenant string
	// Received is when Vigil read the record.
	Received time.Time
	// TrustEventID says the source vouches that the event's event.id identifies the record (`alert_id: event_id`):
	// alert ids then derive from it instead of from the raw bytes.
	TrustEventID bool
	// Invalid, when not empty, says why the record cannot be processed (for example "decode: not a JSON object" or
	// "tenant: unknown tenant \"x\""). Such an event is not evaluated; the pipeline dead-letters it.
	Invalid string
}

// Alert is one rule match, ready to be indexed. Doc is the ECS document described in docs/alerts.md; enrichers add to
// it and sinks serialize it.
type Alert struct {
	// ID is deterministic: the same tenant, rule and event always give the same ID.
	ID string
	// Tenant is the event's tenant; the alert is only ever written to this tenant's index.
	Tenant string
	// RuleID is the id of the rule that matched.
	RuleID string
	// Time is the source event's time; it chooses the daily index, so a replay lands in the same index.
	Time time.Time
	// Doc is the alert document. Values copied from the event may be fields.Value trees, which are read-only and
	// encode to JSON like the maps they stand for: read with Get, and add to an object through Object.
	Doc map[string]any
	// Event is the event that matched. Sinks must not modify it. Nil for a correlation alert, which stands for many
	// events.
	Event *Event
	// Internal marks the match of a rule that is only an input of correlations (its rule says `alert: false`, or the
	// correlations naming it do not say `generate: true`): the pipeline hands it to the Correlator and writes it
	// nowhere.
	Internal bool
	// Update marks an alert that may be written several times under the same ID, each version replacing the last (a
	// correlation alert that grows while its burst lasts). Search sinks insert it when it is new and otherwise update
	// every field of Doc but vigil.alert.status, which belongs to the analyst once the alert exists, so fields an
	// analyst set survive; file sinks append each version as a new line (the last one wins).
	Update bool
	// Enriched says the document already carries its enrichment (a suppressed alert is the enriched alert of its
	// first match): the stages that enrich the Correlator's alerts skip it.
	Enriched bool
	// Shadow marks the alert of a rule in shadow mode (docs/fleet.md, "Shadow mode"): evaluated on live traffic but
	// written only to the shadow indices (vigil-shadow-<tenant>-*), never notified, never correlated.
	Shadow bool
}

// Get follows a path of object keys through a decoded document (event fields or an alert document) and returns the
// value there, or nil when a step is missing or not an object. Parts of an alert document copied from the event may be
// fields.Value trees; Get reads through them and returns their values as plain Go values, newly built.
func Get(doc map[string]any, path ...string) any {
	var v any = doc
	for i, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case fields.Value:
			return x.Lookup(path[i:]...).Interface()
		default:
			return nil
		}
	}
	if x, ok := v.(fields.Value); ok {
		return x.Interface()
	}
	return v
}

// Object returns the object at key in doc for writing. An object the alert shares with its event (a fields.Value) is
// copied into a map of the alert's own first; a missing key or a value that is not an object is replaced by a new,
// empty map. Enrichers and sinks add to alert documents only through Object.
func Object(doc map[string]any, key string) map[string]any {
	switch x := doc[key].(type) {
	case map[string]any:
		return x
	case fields.Value:
		if x.Kind() == fields.Object {
			m := x.Map()
			doc[key] = m
			return m
		}
	}
	m := map[string]any{}
	doc[key] = m
	return m
}

// Correlator is the stateful stage after enrichment (DESIGN.md section 10): it takes the matches of the rules that
// correlations name and returns the correlation alerts they complete or grow. It runs in-process (package correlate)
// or publishes the matches to Kafka for a correlation stage elsewhere, in which case it returns no alerts.
type Correlator interface {
	// Correlate takes one batch's alerts (only those of rules that correlations name are used) and returns the
	// correlation alerts that are due. It returns once the matches are durable where it keeps them; an error means
	// the batch must not be acknowledged. Calls are serialized by the pipeline, in read order.
	Correlate(ctx context.Context, alerts []*Alert) ([]*Alert, error)
	// Flush is called once the source is exhausted: every open window is decided as if no more events will come,
	// and the resulting alerts are returned.
	Flush(ctx context.Context) ([]*Alert, error)
}

// DeadLetter is a record or an alert that cannot be processed, parked with its reason.
type DeadLetter struct {
	// Kind is "event" for an input record and "alert" for an alert that a sink rejected.
	Kind string
	// Reason is a short, stable category such as "decode", "tenant", "oversize" or "mapping".
	Reason string
	// Detail is the human-readable error.
	Detail string
	// Payload is the original record bytes, or the alert document as JSON.
	Payload []byte
	// Origin and Tenant identify where the payload came from.
	Origin Origin
	Tenant string
}

// AckFunc acknowledges exactly one batch returned by Source.Read. The pipeline calls it at most once per batch, in the
// order the batches were read, and only after every alert from the batch is stored or dead-lettered.
type AckFunc func(ctx context.Context) error

// Source yields batches of events.
type Source interface {
	// Read blocks until at least one event is available, ctx is done, or the source is exhausted, in which case it
	// returns io.EOF. The returned events must not be reused by the source until the batch is acked, and their
	// Fields belong to the pipeline, which releases them.
	Read(ctx context.Context) ([]*Event, AckFunc, error)
	// Close releases the source's resources. Batches not yet acked are delivered again by the next reader.
	Close() error
}

// Detector evaluates the rule set on one event. It is safe for concurrent use. Evaluation errors of a rule are counted
// per rule and never returned: a rule that cannot be evaluated on an event simply does not match.
type Detector interface {
	// Detect appends an alert for every rule that matches ev to dst and returns the extended slice.
	Detect(ev *Event, dst []*Alert) []*Alert
}

// Enricher adds context to an alert. It must not do network I/O per call. An error means the enrichment was skipped:
// the pipeline records the enricher's name on the alert and carries on (fail-open).
type Enricher interface {
	Name() string
	Enrich(ctx context.Context, a *Alert) error
}

// Sink stores alerts.
type Sink interface {
	// Write returns once every alert is stored or dead-lettered. It retries transient failures itself, for as long as
	// ctx allows; an error means the batch must not be acknowledged.
	Write(ctx context.Context, alerts []*Alert) error
	// Close flushes and releases the sink.
	Close() error
}

// DeadLetterQueue parks what cannot be processed, with its reason.
type DeadLetterQueue interface {
	// Park returns once every letter is durably stored. An error means they are not, and the batch must not be acked.
	Park(ctx context.Context, letters []DeadLetter) error
	Close() error
}
