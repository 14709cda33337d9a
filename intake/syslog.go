package intake

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Syslog over TCP with RFC 6587 framing, detected per message: octet counting ("LEN SP MSG", used by RFC 5425
// TLS senders) when the frame starts with a digit, otherwise one message per line (non-transparent framing, LF).
// The record is the message as received (without its line ending), with the header format: syslog (or the
// listener's format).
//
// Syslog has no acknowledgement, so durability is TCP's: intake reads a connection only as fast as Kafka
// acknowledges its records (and as the tenant's quota allows), and a sender that keeps its own queue (rsyslog's
// action queue) holds what Kafka has not taken. Records are written in batches of up to syslogBatch messages or
// syslogLinger; a write Kafka does not acknowledge is retried until it succeeds or intake shuts down.
const (
	syslogBatch  = 500
	syslogLinger = 20 * time.Millisecond
)

type syslogListener struct {
	s     *Server
	cfg   SyslogConfig
	route string
	ln    net.Listener
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (s *Server) startSyslog() error {
	for _, c := range s.cfg.Syslog {
		ln, err := net.Listen("tcp", c.Listen)
		if err != nil {
			for _, l := range s.syslogs {
				l.ln.Close()
			}
			return fmt.Errorf("syslog %s: %w", c.Name, err)
		}
		if c.TLS {
			ln = tls.NewListener(ln, s.tls)
		}
		l := &syslogListener{s: s, cfg: c, route: "syslog/" + c.Name, ln: ln, done: make(chan struct{}),
			conns: map[net.Conn]bool{}}
		s.syslogs = append(s.syslogs, l)
		l.wg.Add(1)
		go l.accept()
	}
	return nil
}

// SyslogAddr is the address a syslog listener is bound to, by name; "" when there is none.
func (s *Server) SyslogAddr(name string) string {
	for _, l := range s.syslogs {
		if l.cfg.Name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

func (l *syslogListener) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			l.s.log.Warn("syslog accept", "listener", l.cfg.Name, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		l.wg.Add(1)
		go l.serve(c)
	}
}

// shutdown stops accepting, ends every connection's reading, and waits for their last batches to be written.
func (l *syslogListener) shutdown(ctx context.Context) error {
	close(l.done)
	l.ln.Close()
	l.mu.Lock()
	for c := range l.conns {
		_ = c.SetReadDeadline(time.Now())
	}
	l.mu.Unlock()
	waited := make(chan struct{})
	go func() { l.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("syslog %s: %w", l.cfg.Name, ctx.Err())
	}
}

// tenant finds who is on the connection: the listener's tenant, or the client certificate's; both must agree.
func (l *syslogListener) tenant(c net.Conn) (Principal, error) {
	var cs *tls.ConnectionState
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(l.s.cfg.Timeouts.ReadHeader))
		if err := tc.Handshake(); err != nil {
			return Principal{}, fmt.Errorf("tls handshake: %w", err)
		}
		_ = tc.SetDeadline(time.Time{})
		state := tc.ConnectionState()
		cs = &state
	}
	p, hasCert, err := l.s.certs.principal(cs)
	switch {
	case err != nil:
		return Principal{}, err
	case hasCert && l.cfg.Tenant != "" && p.Tenant != l.cfg.Tenant:
		return Principal{}, fmt.Errorf("client certificate of tenant %s on the listener of tenant %s", p.Tenant, l.cfg.Tenant)
	case hasCert:
		return p, nil
	case l.cfg.Tenant != "":
		return Principal{Tenant: l.cfg.Tenant, Name: l.route}, nil
	}
	return Principal{}, errors.New("no client certificate, and the listener has no tenant")
}

func (l *syslogListener) serve(c net.Conn) {
	defer l.wg.Done()
	defer c.Close()
	p, err := l.tenant(c)
	if err != nil {
		l.s.metrics.rejected("", l.route, "auth", 1)
		l.s.log.Warn("syslog connection refused", "listener", l.cfg.Name, "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	release, err := l.s.quotas.enter(p.Tenant)
	if err != nil {
		l.s.metrics.rejected(p.Tenant, l.route, reasonConcurrency, 1)
		return
	}
	defer release()
	if !l.track(c, true) {
		return
	}
	defer l.track(c, false)
	gauge := l.s.metrics.conns.WithLabelValues(l.cfg.Name)
	gauge.Inc()
	defer gauge.Dec()
	m := meta{p: p, route: l.route, remote: c.RemoteAddr().String(), format: cmp.Or(l.cfg.Format, "syslog"), lines: true}
	frames := make(chan []byte, syslogBatch)
	go l.read(c, p.Tenant, frames)
	l.batches(m, frames)
}

// track adds or removes a connection; adding fails once the listener is shutting down.
func (l *syslogListener) track(c net.Conn, add bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !add {
		delete(l.conns, c)
		return true
	}
	select {
	case <-l.done:
		return false
	default:
	}
	l.conns[c] = true
	return true
}

// read sends each message of the connection to frames, and closes frames at the end of the stream, after an idle
// timeout, or at shutdown.
func (l *syslogListener) read(c net.Conn, tenant string, frames chan<- []byte) {
	defer close(frames)
	br := bufio.NewReaderSize(c, 64<<10)
	max := l.s.cfg.Limits.MaxLineBytes
	for {
		_ = c.SetReadDeadline(time.Now().Add(l.s.cfg.Timeouts.SyslogIdle))
		msg, err := readFrame(br, max)
		var tooLong *errFrameTooLong
		switch {
		case errors.As(err, &tooLong):
			l.s.metrics.rejected(tenant, l.route, "line_too_long", 1)
			continue
		case err != nil:
			return
		case len(msg) > 0:
			frames <- msg
		}
	}
}

// batches writes the messages of frames to Kafka in batches until frames is closed.
func (l *syslogListener) batches(m meta, frames <-chan []byte) {
	var items []item
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case msg, ok := <-frames:
			if !ok {
				l.write(m, items)
				return
			}
			if len(items) == 0 {
				timer.Reset(syslogLinger)
			}
			items = append(items, item{value: msg})
			if len(items) < syslogBatch {
				continue
			}
		case <-timer.C:
		}
		l.write(m, items)
		items = nil
	}
}

// write delivers a batch, waiting for the tenant's quota and retrying until Kafka acknowledges it or shutdown.
func (l *syslogListener) write(m meta, items []item) {
	if len(items) == 0 {
		return
	}
	bytes := 0
	for _, it := range items {
		bytes += len(it.value)
	}
	q := l.s.quotas.get(m.p.Tenant)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the quota's wait ends at shutdown; the batch is still written
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	_ = q.events.WaitN(ctx, min(len(items), q.events.Burst()))
	_ = q.bytes.WaitN(ctx, min(bytes, q.bytes.Burst()))
	m.received = time.Now()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if _, err := l.s.deliver(context.Background(), m, items); err == nil {
			l.s.metrics.accepted(m.p.Tenant, m.route, len(items), bytes)
			return
		}
		select {
		case <-l.done:
			l.s.metrics.rejected(m.p.Tenant, m.route, "kafka", len(items))
			return
		case <-time.After(wait):
		}
	}
}
