package correlate

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Record is a match record: what a correlation needs of one match of a rule it names (DESIGN.md section 10). The
// detection stage makes one per match and correlation naming the rule; they travel through the match topic, or
// straight into an in-process Engine.
type Record struct {
	Tenant string
	// Rule is the correlation rule the record is for; Input the rule that matched.
	Rule, Input string
	// AlertID is the matching alert's id: the record's identity, so a match delivered twice counts once.
	AlertID string
	// Time is the event time of the match.
	Time time.Time
	// Group holds the group-by values, in the correlation's group_by order.
	Group []string
	// Value is the value of condition.field, for value_count and value_percentile; Num is it as a number, for
	// value_sum and value_avg.
	Value string
	Num   float64
	// Doc, in the record of a suppressing rule, is the alert document as JSON (suppress.go); nil otherwise.
	Doc []byte
}

// Key is the Kafka key of the record: the tenant and the group values, without the rule. Records of every
// correlation that groups by the same values for the same tenant share a partition, so a chain of correlations over
// the same group stays on one partition.
func (r *Record) Key() []byte {
	return groupKey(nil, r.Tenant, "", r.Group)
}

// groupKey encodes tenant, rule and values, each ended by a zero byte: the identity of a group. With an empty rule it
// is the partition key.
func groupKey(dst []byte, tenant, rule string, values []string) []byte {
	dst = append(append(dst, tenant...), 0)
	if rule != "" {
		dst = append(append(dst, rule...), 0)
	}
	for _, v := range values {
		dst = append(append(dst, v...), 0)
	}
	return dst
}

// recordVersion 2 added Doc; version 1 records (without it) are still read.
const recordVersion = 2

// MarshalBinary encodes the record compactly: a version byte, then length-prefixed strings and fixed-width numbers.
func (r *Record) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(nil), nil
}

// AppendBinary appends the encoding of MarshalBinary to dst.
func (r *Record) AppendBinary(dst []byte) []byte {
	dst = append(dst, recordVersion)
	for _, s := range [...]string{r.Tenant, r.Rule, r.Input, r.AlertID, r.Value} {
		dst = appendString(dst, s)
	}
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Num))
	dst = binary.AppendUvarint(dst, uint64(len(r.Group)))
	for _, g := range r.Group {
		dst = appendString(dst, g)
	}
	return appendString(dst, string(r.Doc))
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (r *Record) UnmarshalBinary(b []byte) error {
	return r.decode(b, nil)
}

// Decoder decodes match records like UnmarshalBinary, but shares the texts that repeat from record to record (the
// tenant, the correlation and the input rule) instead of allocating them again for each: the correlation stage
// decodes every record it consumes. The zero Decoder is ready; it is not safe for concurrent use.
type Decoder struct{ names map[string]string }

// maxNames bounds the texts a Decoder keeps.
const maxNames = 4096

// Decode decodes b into r.
func (dec *Decoder) Decode(b []byte, r *Record) error {
	if dec.names == nil {
		dec.names = map[string]string{}
	}
	return r.decode(b, dec.names)
}

func (r *Record) decode(b []byte, names map[string]string) error {
	d := decoder{b: b}
	v := d.byte()
	if v != 1 && v != recordVersion {
		return fmt.Errorf("match record: version %d, want %d", v, recordVersion)
	}
	r.Tenant, r.Rule, r.Input = d.name(names), d.name(names), d.name(names)
	r.AlertID, r.Value = d.string(), d.string()
	r.Time = time.Unix(0, int64(d.uint64())).UTC()
	r.Num = math.Float64frombits(d.uint64())
	n := d.uvarint()
	if n > uint64(len(b)) {
		return errors.New("match record: truncated")
	}
	r.Group = make([]string, n)
	for i := range r.Group {
		r.Group[i] = d.string()
	}
	r.Doc = nil
	if v >= 2 {
		if doc := d.string(); doc != "" {
			r.Doc = []byte(doc)
			if !validDoc(r.Doc) {
				return errors.New("match record: the alert document is not a JSON object")
			}
		}
	}
	return d.done("match record")
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// decoder reads the encodings of this package; the first problem sticks and is reported by done.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("truncated")
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) string() string {
	return d.name(nil)
}

// name reads a string, taking it from names when it is there (and adding it while names is small).
func (d *decoder) name(names map[string]string) string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	b := d.b[:n]
	d.b = d.b[n:]
	if names == nil {
		return string(b)
	}
	if s, ok := names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(names) < maxNames {
		names[s] = s
	}
	return s
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	return nil
}

// alertID is an alert id as the 16 bytes its 32 hex digits stand for; any other text is hashed to 16 bytes.
type alertID [16]byte

func parseAlertID(s string) alertID {
	var id alertID
	if len(s) == 32 && lowerHex(s) {
		hex.Decode(id[:], []byte(s))
		return id
	}
	sum := sha256.Sum256([]byte(s))
	copy(id[:], sum[:16])
	return id
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (id alertID) String() string { return hex.EncodeToString(id[:]) }

func (id alertID) less(o alertID) bool {
	for i := range id {
		if id[i] != o[i] {
			return id[i] < o[i]
		}
	}
	return false
}

// validDoc reports whether b is a JSON object.
func validDoc(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}
