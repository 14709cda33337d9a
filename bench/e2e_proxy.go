package bench

import (
	"io"
	"net"
	"sync"
)

// faultProxy forwards TCP connections to a server. cut closes every connection through it and closes new ones at
// once, as a dead server does; restore lets them through again. The catch-up measurement takes the search engine
// away with it: testenv's servers are shared and cannot be stopped.
type faultProxy struct {
	target string
	ln     net.Listener
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newFaultProxy(target string) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.accept()
	return p, nil
}

// addr is the proxy's listening address.
func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) close() {
	p.ln.Close()
	p.cut()
}

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

// forward copies both ways between the client and a new connection to the server, until either side ends or cut.
func (p *faultProxy) forward(c net.Conn) {
	b, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(c, b) {
		c.Close()
		if b != nil {
			b.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
	c.Close()
	b.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.mu.Unlock()
}

// track registers a connection pair; false while the proxy is down.
func (p *faultProxy) track(c, b net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c], p.conns[b] = true, true
	return true
}

func (p *faultProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *faultProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
