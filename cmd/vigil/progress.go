package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/vigilsoc/vigil"
)

// progress redraws one status line on a terminal while `vigil replay` runs: how much of the input was read, events
// per second over the last interval, alerts so far. It reads the counters the pipeline and the metered source keep;
// it adds nothing per event. Replay shows it only when stderr is a terminal (and the alerts do not go to the same
// terminal), so scripts and pipes see exactly the output they saw before.
type progress struct {
	w     io.Writer
	src   *meteredSource
	p     *vigil.Pipeline
	total int64 // bytes of input, 0 when unknown (standard input from a pipe)
	every time.Duration
	// label starts the line (default "replay"); fraction, when set, says how much of the work is done (0 to 1) in
	// place of the bytes read, for inputs measured otherwise (`vigil hunt` counts records).
	label    string
	fraction func() float64

	mu       sync.Mutex // serialises drawing with writes through writer()
	drawn    bool       // a status line is on the screen
	start    time.Time
	last     time.Time
	lastSeen int64 // events at last

	stop chan struct{}
	done chan struct{}
}

// newProgress returns the status line for a replay of total bytes (0: unknown) read by src into p, drawn on w.
func newProgress(w io.Writer, src *meteredSource, p *vigil.Pipeline, total int64) *progress {
	now := time.Now()
	return &progress{w: w, src: src, p: p, total: total, every: 250 * time.Millisecond, start: now, last: now,
		stop: make(chan struct{}), done: make(chan struct{})}
}

// showProgress reports whether replay should draw progress on stderr: stderr is a terminal and the alerts are not
// written to that same terminal.
func showProgress(stderr, stdout io.Writer, output string) bool {
	errFile, ok := stderr.(*os.File)
	if !ok || !isTerminal(errFile) {
		return false
	}
	if output == "-" {
		if outFile, ok := stdout.(*os.File); ok && isTerminal(outFile) {
			return false
		}
	}
	return true
}

// inputSize is the size of replay's input, or 0 when it is not a regular file.
func inputSize(path string, stdin io.Reader) int64 {
	if path == "-" {
		f, ok := stdin.(*os.File)
		if !ok {
			return 0
		}
		info, err := f.Stat()
		if err != nil || !info.Mode().IsRegular() {
			return 0
		}
		return info.Size()
	}
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return 0
	}
	return info.Size()
}

// run redraws the line until Stop.
func (g *progress) run() {
	defer close(g.done)
	tick := time.NewTicker(g.every)
	defer tick.Stop()
	for {
		select {
		case <-g.stop:
			return
		case now := <-tick.C:
			g.draw(now)
		}
	}
}

// Start draws in the background until Stop.
func (g *progress) Start() { go g.run() }

// Stop stops drawing and erases the line, so the summary that follows starts on a clean line.
func (g *progress) Stop() {
	close(g.stop)
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clear()
}

func (g *progress) draw(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fmt.Fprintf(g.w, "\r\033[K%s", g.line(now))
	g.drawn = true
}

func (g *progress) clear() {
	if g.drawn {
		fmt.Fprint(g.w, "\r\033[K")
		g.drawn = false
	}
}

// line is the status text at now, and moves the rate window on.
func (g *progress) line(now time.Time) string {
	events := g.p.Stats.Events.Load()
	rate := 0.0
	if d := now.Sub(g.last).Seconds(); d > 0 {
		rate = float64(events-g.lastSeen) / d
	}
	g.last, g.lastSeen = now, events
	s := cmp.Or(g.label, "replay") + ": "
	done := -1.0
	switch {
	case g.fraction != nil:
		done = g.fraction()
	case g.total > 0:
		events, bytes := g.src.read()
		read := bytes + events // and a line break per record
		done = float64(read) / float64(g.total)
	}
	if done >= 0 {
		s += fmt.Sprintf("%5.1f%%  ", min(100, 100*done))
	}
	took := now.Sub(g.start)
	s += fmt.Sprintf("%s events  %s events/s  %s alerts  %s", groupDigits(events), groupDigits(int64(rate)),
		groupDigits(g.p.Stats.Alerts.Load()), took.Round(time.Second))
	if done > 0.01 && done < 1 {
		s += fmt.Sprintf("  about %s left", time.Duration(float64(took)*(1-done)/done).Round(time.Second))
	}
	return s
}

// writer returns a writer for messages printed while the line is shown (skipped lines): each message erases the
// line first, and the next tick draws it again below.
func (g *progress) writer() io.Writer { return progressWriter{g} }

type progressWriter struct{ g *progress }

func (w progressWriter) Write(b []byte) (int, error) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	w.g.clear()
	return w.g.w.Write(b)
}

// groupDigits writes n with thousands separators: 1234567 → 1,234,567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
