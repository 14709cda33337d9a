package sinks

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/kafkaconn"
)

// readTestLetters are parked by the real queues and read back.
func readTestLetters() []vigil.DeadLetter {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []vigil.DeadLetter{
		{Kind: "event", Reason: "decode", Detail: "decode: not a JSON object", Payload: []byte("not json"),
			Origin: vigil.Origin{Source: "partners", Topic: "partner.acme.events", Partition: 2, Offset: 41, Time: at}, Tenant: "acme"},
		{Kind: "event", Reason: "decode", Detail: "decode: invalid UTF-8", Payload: []byte{0xff, 0x00, 'x'},
			Origin: vigil.Origin{Source: "files", File: "/var/log/x.jsonl", Line: 12}},
		{Kind: "alert", Reason: "mapping", Detail: "mapper_parsing_exception", Payload: []byte(`{"vigil":{"alert":{"id":"a1"}}}`),
			Origin: vigil.Origin{Source: "partners", Topic: "partner.globex.events", Partition: 0, Offset: 7}, Tenant: "globex"},
	}
}

// sameLetter compares what a reader gives back with what was parked.
func sameLetter(t *testing.T, got *ParkedLetter, want vigil.DeadLetter) {
	t.Helper()
	g := got.DeadLetter
	if g.Kind != want.Kind || g.Reason != want.Reason || g.Detail != want.Detail || g.Tenant != want.Tenant ||
		!bytes.Equal(g.Payload, want.Payload) || g.Origin.String() != want.Origin.String() ||
		g.Origin.Source != want.Origin.Source || !g.Origin.Time.Equal(want.Origin.Time) {
		t.Errorf("letter %s:\ngot  %+v\nwant %+v", got.ID, g, want)
	}
	if got.Parked.IsZero() {
		t.Errorf("letter %s: no parking time", got.ID)
	}
}

func TestReadDeadLetterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	q, err := NewDeadLetterFile(path)
	if err != nil {
		t.Fatal(err)
	}
	letters := readTestLetters()
	if err := q.Park(context.Background(), letters[:2]); err != nil {
		t.Fatal(err)
	}
	q.Close()
	// A torn write, then a letter parked after the restart (which ends the torn line first).
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"@timestamp":"2026-`)
	f.Close()
	q, err = NewDeadLetterFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Park(context.Background(), letters[2:]); err != nil {
		t.Fatal(err)
	}
	q.Close()

	var got []*ParkedLetter
	skipped, err := ReadDeadLetterFile(path, func(l *ParkedLetter) error { got = append(got, l); return nil })
	if err != nil || skipped != 1 || len(got) != 3 {
		t.Fatalf("got %d letters, %d skipped, err %v; want 3, 1, nil", len(got), skipped, err)
	}
	for i, line := range []int{1, 2, 4} {
		if want := fmt.Sprintf("%s:%d", path, line); got[i].ID != want {
			t.Errorf("letter %d: id %s, want %s", i, got[i].ID, want)
		}
		sameLetter(t, got[i], letters[i])
	}
	if f := got[0].Fields; len(f) != 10 || f[1] != (LetterField{"kind", "event"}) || f[7] != (LetterField{"origin.partition", "2"}) {
		t.Errorf("fields of the first letter: got %v", f)
	}

	l, err := ReadDeadLetterFileLine(path, 4)
	if err != nil || l.ID != path+":4" || l.Kind != "alert" {
		t.Errorf("line 4: got %+v, %v", l, err)
	}
	if _, err := ReadDeadLetterFileLine(path, 3); err == nil || !strings.Contains(err.Error(), "holds no dead letter") {
		t.Errorf("the torn line: got %v", err)
	}
	if _, err := ReadDeadLetterFileLine(path, 5); err == nil || !strings.Contains(err.Error(), "the file has 4 lines") {
		t.Errorf("past the end: got %v", err)
	}
	// The scan stops when asked to.
	n := 0
	if _, err := ReadDeadLetterFile(path, func(*ParkedLetter) error { n++; return errStop }); err != errStop || n != 1 {
		t.Errorf("stop: got %v after %d letters, want errStop after 1", err, n)
	}
}

var errStop = fmt.Errorf("stop")

func TestReplayLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl.replayed")
	if got, err := ReadReplayLogFile(path); err != nil || len(got) != 0 {
		t.Fatalf("missing log: got %v, %v; want an empty log", got, err)
	}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if err := AppendReplayLogFile(path, []ReplayRecord{{ID: "dl.jsonl:1", Replayed: at, To: "topic t partition 0"}}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"dl.js`) // torn
	f.Close()
	if err := AppendReplayLogFile(path, []ReplayRecord{{ID: "dl.jsonl:2", Replayed: at, To: "x"}, {ID: "dl.jsonl:1", Replayed: at.Add(time.Hour), To: "y"}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReplayLogFile(path)
	if err != nil || len(got) != 2 || got["dl.jsonl:1"].To != "y" || !got["dl.jsonl:2"].Replayed.Equal(at) {
		t.Errorf("got %v, %v; want two ids, the later record of dl.jsonl:1", got, err)
	}
}

func TestReadKafkaDeadLetters(t *testing.T) {
	_, addr := fakeCluster(t, kfake.SeedTopics(3, "dlq"))
	cfg := KafkaDeadLetterConfig{Config: kafkaconn.Config{Brokers: []string{addr}}, Topic: "dlq", MaxPayloadBytes: 20}
	q := newDLQ(t, cfg)
	letters := readTestLetters()
	for _, l := range letters { // one at a time: parking times in order
		if err := q.Park(context.Background(), []vigil.DeadLetter{l}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var got []*ParkedLetter
	err := ReadKafkaDeadLetters(context.Background(), cfg, func(l *ParkedLetter) error {
		got = append(got, l)
		if len(got) == 1 { // parked during the scan: past the end taken at its start
			return q.Park(context.Background(), letters[:1])
		}
		return nil
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d letters, %v; want 3", len(got), err)
	}
	for i, l := range got {
		want := letters[i]
		if l.Truncated > 0 {
			if l.Truncated != len(want.Payload) || !bytes.HasPrefix(want.Payload, l.Payload) || len(l.Payload) != 20 {
				t.Errorf("letter %s: payload %q cut from %d, want the first 20 of %d bytes", l.ID, l.Payload, l.Truncated, len(want.Payload))
			}
			l.Payload = want.Payload
		}
		sameLetter(t, l, want)
		if !strings.HasPrefix(l.ID, "dlq/") || len(l.Fields) < 5 || l.Fields[0] != (LetterField{HeaderKind, want.Kind}) {
			t.Errorf("letter %d: id %s, fields %v", i, l.ID, l.Fields)
		}
	}
	// One letter by its id.
	var part int
	var off int64
	fmt.Sscanf(strings.TrimPrefix(got[2].ID, "dlq/"), "%d/%d", &part, &off)
	l, err := ReadKafkaDeadLetter(context.Background(), cfg, part, off)
	if err != nil || l.ID != got[2].ID || l.Kind != "alert" {
		t.Errorf("letter %s: got %+v, %v", got[2].ID, l, err)
	}
	for _, c := range []struct {
		part int
		off  int64
		want string
	}{{part, off + 100, "holds offsets"}, {7, 0, "has 3 partitions"}} {
		if _, err := ReadKafkaDeadLetter(context.Background(), cfg, c.part, c.off); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("letter %d/%d: got %v, want %q", c.part, c.off, err, c.want)
		}
	}
	missing := cfg
	missing.Topic = "nope"
	if err := ReadKafkaDeadLetters(context.Background(), missing, func(*ParkedLetter) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "topics do not exist") {
		t.Errorf("missing topic: got %v", err)
	}
}

func TestKafkaReplayLog(t *testing.T) {
	_, addr := fakeCluster(t, kfake.SeedTopics(1, "dlq"))
	cfg := KafkaDeadLetterConfig{Config: kafkaconn.Config{Brokers: []string{addr}}, Topic: "dlq"}
	ctx := context.Background()
	if got, err := ReadKafkaReplayLog(ctx, cfg); err != nil || len(got) != 0 {
		t.Fatalf("before the first replay: got %v, %v; want an empty log", got, err)
	}
	l, err := NewKafkaReplayLog(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if err := l.Append(ctx, []ReplayRecord{{ID: "dlq/0/1", Replayed: at, To: "a"}, {ID: "dlq/0/2", Replayed: at, To: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, []ReplayRecord{{ID: "dlq/0/1", Replayed: at.Add(time.Hour), To: "c"}}); err != nil {
		t.Fatal(err)
	}
	// A tombstone forgets a letter.
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: ReplayLogTopic("dlq"), BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("dlq/0/2")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, err := ReadKafkaReplayLog(ctx, cfg)
	if err != nil || len(got) != 1 || got["dlq/0/1"].To != "c" || !got["dlq/0/1"].Replayed.Equal(at.Add(time.Hour)) {
		t.Errorf("got %v, %v; want dlq/0/1 to c only", got, err)
	}
	// A second writer finds the topic.
	l2, err := NewKafkaReplayLog(ctx, cfg)
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	l2.Close()
}
