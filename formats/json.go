package formats

import (
	"bytes"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/fields"
)

// decodeJSON is the json format: the record is one JSON object, decoded in place. With parsers, the fields a parser
// extracts are added to the object; a field the record already carries is kept, so a parser never hides a value
// the partner sent (a replaced value would also count as a shadowed key).
func (d *Decoder) decodeJSON(raw []byte, recordTime time.Time) (fields.Value, error) {
	tree, err := fields.Parse(raw)
	if err != nil || d.parsers == nil {
		return tree, err
	}
	dc := d.docs.Get().(*doc)
	defer d.docs.Put(dc)
	dc.reset()
	if !d.parsers.apply(treeSource(tree), dc, &state{recordTime: recordTime, loc: d.loc}) {
		return tree, nil
	}
	kept := dc.entries[:0]
	for _, e := range dc.entries {
		if !tree.Lookup(strings.Split(e.key, ".")...).Exists() {
			kept = append(kept, e)
		}
	}
	dc.entries = kept
	if len(kept) == 0 {
		return tree, nil
	}
	body := bytes.TrimRight(raw, " \t\r\n")
	added := dc.appendJSON(nil)
	out := make([]byte, 0, len(body)+len(added))
	out = append(out, body[:len(body)-1]...) // without its closing brace
	if tree.Len() > 0 {
		out = append(out, ',')
	}
	out = append(out, added[1:]...)
	tree.Release()
	return fields.Parse(out)
}
