package e2e

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards every connection accepted on its own loopback port to
// one upstream address, and can be made a blackhole: Pause stops forwarding
// in both directions and holds every connection open (bytes already read
// wait in the proxy, the rest in the kernel's buffers), as a network
// partition does; new connections are accepted but not forwarded. Resume
// delivers what was held and forwards again.
//
// etcd's go.etcd.io/etcd/pkg/v3/proxy builds with the pinned etcd, but its
// Close waits for the copy goroutines without closing established
// connections (it hangs while a master holds one), a failed upstream dial
// leaves the accepted connection open and silent instead of refusing it,
// and its error channel must be drained or the accept loop blocks; this one
// is small enough to read in full.
type tcpProxy struct {
	name     string
	ln       net.Listener
	upstream string
	done     chan struct{} // closed by Close
	wg       sync.WaitGroup

	mu     sync.Mutex // guards paused, conns and closed
	paused chan struct{}
	conns  map[net.Conn]struct{}
	closed bool
}

// startProxy listens on a free loopback port and forwards to upstream. It is
// closed when the test ends.
func startProxy(t *testing.T, name, upstream string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy %s: %v", name, err)
	}
	p := &tcpProxy{name: name, ln: ln, upstream: upstream, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address clients dial.
func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

// Pause blackholes the proxy: nothing is forwarded until Resume.
func (p *tcpProxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == nil {
		p.paused = make(chan struct{})
	}
}

// Resume forwards again, starting with what was held.
func (p *tcpProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines. It is safe to call twice.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// gate blocks while the proxy is paused; false once it is closed.
func (p *tcpProxy) gate() bool {
	p.mu.Lock()
	ch := p.paused
	p.mu.Unlock()
	if ch == nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	select {
	case <-ch:
		return true
	case <-p.done:
		return false
	}
}

// track registers c so that Close closes it; false when already closed.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond): // a transient accept error: try again
			}
			continue
		}
		if !p.track(in) {
			return
		}
		p.wg.Add(1)
		go p.serve(in)
	}
}

// serve dials upstream once the proxy forwards, and copies both ways. A
// failed dial closes the accepted connection, as a refused one would be.
func (p *tcpProxy) serve(in net.Conn) {
	defer p.wg.Done()
	defer p.untrack(in)
	if !p.gate() {
		return
	}
	out, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.copy(out, in) }()
	go func() { defer wg.Done(); p.copy(in, out) }()
	wg.Wait()
}

// copy forwards src to dst until either fails, holding each read while the
// proxy is paused; then it closes both, which ends the other direction.
func (p *tcpProxy) copy(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF too: gRPC needs no half-close
			return
		}
	}
}

// TestTCPProxy: bytes flow both ways; a paused proxy delivers nothing but
// keeps the connection, and delivers what it held once resumed; a new
// connection made while paused is held too; Close ends every connection.
func TestTCPProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // an echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	p := startProxy(t, "echo", ln.Addr().String())
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	echo := func(c net.Conn, msg string, within time.Duration) (string, error) {
		t.Helper()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatalf("write: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(within))
		buf := make([]byte, len(msg))
		n, err := io.ReadFull(c, buf)
		return string(buf[:n]), err
	}
	read := func(c net.Conn, n int, within time.Duration) (string, error) {
		c.SetReadDeadline(time.Now().Add(within))
		buf := make([]byte, n)
		k, err := io.ReadFull(c, buf)
		return string(buf[:k]), err
	}

	c := dial()
	if got, err := echo(c, "one", 5*time.Second); got != "one" || err != nil {
		t.Fatalf("echo through the proxy = %q, %v; want %q", got, err, "one")
	}
	p.Pause()
	// Nothing comes back while paused: a bounded read must time out.
	if got, err := echo(c, "two", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("echo through a paused proxy = %q, %v; want a read timeout", got, err)
	}
	held := dial() // accepted, not forwarded
	if got, err := echo(held, "new", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("echo on a connection made while paused = %q, %v; want a read timeout", got, err)
	}
	p.Resume()
	if got, err := read(c, 3, 5*time.Second); got != "two" || err != nil {
		t.Fatalf("after Resume, the held bytes = %q, %v; want %q", got, err, "two")
	}
	if got, err := read(held, 3, 5*time.Second); got != "new" || err != nil {
		t.Fatalf("after Resume, the held connection's bytes = %q, %v; want %q", got, err, "new")
	}
	p.Close()
	if got, err := read(c, 1, 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after Close = %q, %v; want the connection closed", got, err)
	}
}
