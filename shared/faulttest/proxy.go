// Package faulttest is for tests only: it makes backends fail for real. Its
// Proxy is a loopback TCP proxy that a client is pointed at instead of its
// server; the test can then cut the server off (every connection closed,
// new ones refused) or stall it (bytes silently dropped, as in a network
// partition), and restore it, while the server itself keeps running with its
// data. Backends wires the product's Firestore and Secret Manager clients
// through such proxies.
package faulttest

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// mode is the proxy's state.
type mode int

const (
	up      mode = iota // forwarding
	cut                 // connections closed, new ones accepted and closed at once
	stalled             // connections kept, bytes dropped in both directions
	closed              // the proxy is shut down
)

// dialTimeout bounds the connection to the target.
const dialTimeout = 5 * time.Second

// Proxy forwards TCP connections from its loopback address to a target.
// Its methods are safe for concurrent use.
type Proxy struct {
	target string
	lis    net.Listener

	mu       sync.Mutex
	mode     mode
	links    map[*link]struct{}
	accepted int
	refused  int
	wg       sync.WaitGroup
}

// link is one client connection and, once dialled, its upstream.
type link struct {
	client, server net.Conn
}

func (l *link) close() {
	_ = l.client.Close()
	if l.server != nil {
		_ = l.server.Close()
	}
}

// Listen starts a proxy to target on a free loopback port.
func Listen(target string) (*Proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, lis: lis, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Start is Listen for a test: it fails t on error and closes the proxy
// when t ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := Listen(target)
	if err != nil {
		t.Fatalf("faulttest: listen: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Addr is the address clients dial instead of the target.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// Cut closes every live connection and refuses new ones (they are accepted
// and closed at once, as a server that is down answers with a reset) until
// Restore.
func (p *Proxy) Cut() { p.switchTo(cut) }

// Stall keeps every connection open but drops the bytes sent either way,
// and accepts new connections without connecting them anywhere, until
// Restore: a black hole, where a client sees no error, only silence, until
// its own deadline.
func (p *Proxy) Stall() { p.switchTo(stalled) }

// Restore forwards again. Connections that lived through a stall lost bytes,
// so they are closed (as a long partition ends in resets) and clients
// reconnect.
func (p *Proxy) Restore() { p.switchTo(up) }

// switchTo enters mode m unless the proxy is closed. Links are closed on
// a cut, and when leaving a stall: they lost bytes.
func (p *Proxy) switchTo(m mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == closed {
		return
	}
	if m == cut || p.mode == stalled && m == up {
		p.closeLinks()
	}
	p.mode = m
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.mode == closed {
		p.mu.Unlock()
		return
	}
	p.mode = closed
	_ = p.lis.Close()
	p.closeLinks()
	p.mu.Unlock()
	p.wg.Wait()
}

// Stats reports how many connections were forwarded (or held, while
// stalled) and how many were refused, so a test can check its client really
// goes through the proxy.
func (p *Proxy) Stats() (accepted, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.refused
}

// closeLinks closes and forgets every connection; p.mu is held.
func (p *Proxy) closeLinks() {
	for l := range p.links {
		l.close()
		delete(p.links, l)
	}
}

func (p *Proxy) current() mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		switch p.mode {
		case closed:
			p.mu.Unlock()
			_ = c.Close()
			return
		case cut:
			p.refused++
			p.mu.Unlock()
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, not an orderly close
			}
			_ = c.Close()
			continue
		}
		p.accepted++
		l := &link{client: c}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(l)
	}
}

// handle connects l upstream, once not stalled, and pumps both ways.
func (p *Proxy) handle(l *link) {
	defer p.wg.Done()
	defer p.forget(l)
	// While stalled, a new connection is held: what the client sends is
	// dropped, and the upstream is never dialled.
	for p.current() == stalled {
		if !p.drain(l.client) {
			return
		}
	}
	server, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		return
	}
	p.mu.Lock()
	if _, live := p.links[l]; !live || p.mode != up {
		// Cut, closed or stalled again meanwhile.
		p.mu.Unlock()
		_ = server.Close()
		return
	}
	l.server = server
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pump(l.server, l.client); done <- struct{}{} }()
	go func() { p.pump(l.client, l.server); done <- struct{}{} }()
	<-done
	l.close()
	<-done
}

// drain reads and drops one chunk from c; false when c is closed.
func (p *Proxy) drain(c net.Conn) bool {
	buf := make([]byte, 32<<10)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := c.Read(buf)
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return err == nil || (errors.As(err, &ne) && ne.Timeout())
}

// pump copies src to dst, dropping what it reads while stalled.
func (p *Proxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			switch p.current() {
			case up:
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			case stalled:
				// dropped
			default:
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the link ends
		}
	}
}

func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.close()
}
