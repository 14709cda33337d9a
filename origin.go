package vigil

import (
	"strconv"
	"time"
)

// Origin says where an event came from: a Kafka record (topic, partition, offset) or a line of a file.
type Origin struct {
	// Source is the configured name of the source.
	Source string
	// Topic, Partition and Offset locate a Kafka record.
	Topic     string
	Partition int
	Offset    int64
	// File and Line locate a line of a file ("-" is standard input); Line counts from 1.
	File string
	Line int64
	// Time is the record's own time (the Kafka record timestamp); zero when the source has none.
	Time time.Time
}

// Doc returns the origin as it appears in an alert document (vigil.alert.origin) or a dead-letter record.
func (o Origin) Doc() map[string]any {
	d := map[string]any{"source": o.Source}
	switch {
	case o.Topic != "":
		d["topic"] = o.Topic
		d["partition"] = int64(o.Partition)
		d["offset"] = o.Offset
	case o.File != "":
		d["file"] = o.File
		d["line"] = o.Line
	}
	if !o.Time.IsZero() {
		d["time"] = o.Time.UTC().Format(time.RFC3339Nano)
	}
	return d
}

// String is a short human form: "topic/partition@offset" or "file:line".
func (o Origin) String() string {
	switch {
	case o.Topic != "":
		return o.Topic + "/" + strconv.Itoa(o.Partition) + "@" + strconv.FormatInt(o.Offset, 10)
	case o.File != "":
		return o.File + ":" + strconv.FormatInt(o.Line, 10)
	}
	return o.Source
}
