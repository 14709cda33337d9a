package hunt

import (
	"context"

	"github.com/vigilsoc/vigil"
)

// Tag is a vigil.Sink that marks every alert with Value under vigil.<Key> (vigil.hunt, vigil.retrohunt) and hands it
// to Sink. The mark is not part of the alert id: an alert live detection already wrote is not written again (create
// answers 409), so it keeps the live document, without the mark; a correlation alert, which is updated in place,
// gets the mark added.
type Tag struct {
	Sink  vigil.Sink
	Key   string
	Value map[string]any
}

// Write implements vigil.Sink.
func (t Tag) Write(ctx context.Context, alerts []*vigil.Alert) error {
	for _, a := range alerts {
		vigil.Object(a.Doc, "vigil")[t.Key] = t.Value
	}
	return t.Sink.Write(ctx, alerts)
}

// Close implements vigil.Sink.
func (t Tag) Close() error { return t.Sink.Close() }
