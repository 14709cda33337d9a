package ingest

import (
	"cmp"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/formats"
)

// KafkaDecoder turns Kafka records into events: the tenant from the topic or the tenant header, the topic's record
// format and message parsers, the size limit, and the alert-id policy. The Kafka source uses it, and so does every
// other reader of the same topics (`vigil hunt`, the IOC retro-hunt), so that a record read again decodes to the same
// event, and its alerts get the same ids, as when the consumer group read it. It is safe for concurrent use.
type KafkaDecoder struct {
	name     string
	header   string // the tenant header of multi-tenant topics
	maxBytes int
	fixed    map[string]string           // topic → tenant, for single-tenant topics
	trusted  map[string]bool             // topics whose event.id identifies a record (alert_id: event_id)
	known    map[string]bool             // known tenants, for multi-tenant topics
	decoders map[string]*formats.Decoder // topic → its record format and message parsers
	// byHeader holds, per topic, a decoder of every format with the topic's parsers and time zone, for records
	// whose format header names their format (see FormatHeader).
	byHeader map[string]map[string]*formats.Decoder
}

// FormatHeader is the record header naming a record's format. `vigil intake` sets it on what it writes that is not
// a plain JSON document (hec on HEC event objects, syslog on syslog lines), so that one topic can carry HEC, _bulk
// and NDJSON records alike. A known format in it overrides the topic's format for that record (the topic's message
// parsers still apply); an unknown one is ignored.
const FormatHeader = "format"

// NewKafkaDecoder returns the decoder of source name's topics. cfg is validated (without I/O) against the known
// tenants.
func NewKafkaDecoder(name string, cfg KafkaConfig, tenants []string) (*KafkaDecoder, error) {
	cfg.setDefaults()
	d := &KafkaDecoder{name: name, header: cfg.TenantHeader, maxBytes: cfg.MaxRecordBytes, fixed: map[string]string{},
		trusted: map[string]bool{}, known: map[string]bool{}, decoders: map[string]*formats.Decoder{},
		byHeader: map[string]map[string]*formats.Decoder{}}
	for _, t := range cfg.Topics {
		d.trusted[t.Name] = t.AlertID == AlertIDEventID
		if err := d.addTopic(t); err != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, err)
		}
		if !t.MultiTenant {
			d.fixed[t.Name] = t.Tenant
		}
	}
	for _, t := range tenants {
		d.known[t] = true
	}
	return d, nil
}

// addTopic builds the decoders of a topic: its own format's, and one per format for the format header, sharing
// the topic's parsers (loaded once).
func (d *KafkaDecoder) addTopic(t KafkaTopic) error {
	if err := t.Config.Validate(); err != nil {
		return err
	}
	var ps *formats.Parsers
	if len(t.Parsers) > 0 {
		var err error
		if ps, err = formats.LoadParsers(t.Parsers...); err != nil {
			return err
		}
	}
	d.byHeader[t.Name] = map[string]*formats.Decoder{}
	for _, name := range formats.Names {
		dec, err := formats.NewWithParsers(formats.Config{Format: name, Timezone: t.Timezone}, ps)
		if err != nil {
			return err
		}
		d.byHeader[t.Name][name] = dec
	}
	d.decoders[t.Name] = d.byHeader[t.Name][cmp.Or(t.Format, "json")]
	return nil
}

// decoder returns the decoder of a record: its format header's, or its topic's.
func (d *KafkaDecoder) decoder(m kafka.Message) *formats.Decoder {
	for _, h := range m.Headers {
		if h.Key == FormatHeader {
			if dec := d.byHeader[m.Topic][string(h.Value)]; dec != nil {
				return dec
			}
			break
		}
	}
	return d.decoders[m.Topic]
}

// Event turns a record into an event: decoded, or marked invalid with the reason (Event.Invalid).
func (d *KafkaDecoder) Event(m kafka.Message) *vigil.Event {
	ev := &vigil.Event{
		Raw:          m.Value,
		Origin:       vigil.Origin{Source: d.name, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time},
		Received:     time.Now(),
		TrustEventID: d.trusted[m.Topic],
	}
	tenant, problem := d.tenant(m)
	switch {
	case problem != "":
		ev.Invalid = "tenant: " + problem
	case len(m.Value) > d.maxBytes:
		ev.Tenant = tenant
		DecodeInto(ev, fmt.Errorf("%w: %d bytes, more than %d", ErrOversize, len(m.Value), d.maxBytes))
	default:
		ev.Tenant = tenant
		DecodeWith(d.decoder(m), ev, nil)
	}
	return ev
}

// tenant finds a record's tenant: the topic's, or the tenant header's on a multi-tenant topic. problem says why
// there is none.
func (d *KafkaDecoder) tenant(m kafka.Message) (tenant, problem string) {
	if t, ok := d.fixed[m.Topic]; ok {
		return t, ""
	}
	for _, h := range m.Headers {
		if h.Key == d.header {
			if t := string(h.Value); d.known[t] {
				return t, ""
			}
			return "", fmt.Sprintf("unknown tenant %q in header %q", h.Value, d.header)
		}
	}
	return "", fmt.Sprintf("no %q header on multi-tenant topic %s", d.header, m.Topic)
}
