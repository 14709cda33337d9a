package hunt

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// TestReadMergesByRecordTime: Read hands out the events of every partition oldest first, equal times in span order,
// in batches of at most BatchSize, then io.EOF.
func TestReadMergesByRecordTime(t *testing.T) {
	base := time.Unix(1700000000, 0)
	ev := func(p int, ms int, off int64) *vigil.Event {
		return &vigil.Event{Origin: vigil.Origin{Partition: p, Offset: off, Time: base.Add(time.Duration(ms) * time.Millisecond)}}
	}
	// partition 0: times 0, 2, 4, 4; partition 1: 1, 2, 3 (in two chunks); partition 2: nothing
	chunks := [][][]*vigil.Event{
		{{ev(0, 0, 0), ev(0, 2, 1)}, {ev(0, 4, 2), ev(0, 4, 3)}},
		{{ev(1, 1, 0)}, {ev(1, 2, 1), ev(1, 3, 2)}},
		nil,
	}
	s := &Source{cfg: Config{BatchSize: 3}}
	for i, cs := range chunks {
		p := &partition{index: i, out: make(chan []*vigil.Event, len(cs))}
		for _, c := range cs {
			p.out <- c
		}
		close(p.out)
		s.parts = append(s.parts, p)
	}
	var got [][2]int64
	var sizes []int
	for {
		batch, ack, err := s.Read(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := ack(context.Background()); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(batch))
		for _, e := range batch {
			got = append(got, [2]int64{int64(e.Origin.Partition), e.Origin.Offset})
		}
	}
	want := [][2]int64{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {1, 2}, {0, 2}, {0, 3}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v (partition, offset)", got, want)
		}
	}
	if len(sizes) != 3 || sizes[0] != 3 || sizes[1] != 3 || sizes[2] != 1 {
		t.Errorf("batch sizes: got %v, want [3 3 1]", sizes)
	}
}

// TestReadReportsFetchError: a partition that fails ends the hunt with its error, not with io.EOF.
func TestReadReportsFetchError(t *testing.T) {
	s := &Source{cfg: Config{BatchSize: 10}}
	p := &partition{out: make(chan []*vigil.Event)}
	close(p.out)
	s.parts = append(s.parts, p)
	s.fail(errors.New("hunt: t[0]: broker gone"))
	if _, _, err := s.Read(context.Background()); err == nil || err.Error() != "hunt: t[0]: broker gone" {
		t.Errorf("got %v, want the fetch error", err)
	}
}

// TestPaceDelay: the work may use cores × the elapsed time; beyond, the wait makes up the difference.
func TestPaceDelay(t *testing.T) {
	for _, tc := range []struct {
		work, elapsed time.Duration
		cores         float64
		want          time.Duration
	}{
		{time.Second, 10 * time.Second, 0.5, 0},            // well within
		{time.Second, time.Second, 0.5, time.Second},       // 1 s of work at half a core needs 2 s
		{3 * time.Second, time.Second, 2, time.Second / 2}, // parallel work: 3 s on 2 cores needs 1.5 s
		{time.Second, 2 * time.Second, 0.5, 0},             // exactly at the budget
		{100 * time.Millisecond, 0, 0.1, time.Second},      // at the start
	} {
		if got := PaceDelay(tc.work, tc.elapsed, tc.cores); got != tc.want {
			t.Errorf("PaceDelay(%s, %s, %g): got %s, want %s", tc.work, tc.elapsed, tc.cores, got, tc.want)
		}
	}
}
