package faultproxy

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Direction names one way through the proxy.
type Direction int

const (
	// ToUpstream is what the client writes, on its way to the upstream.
	ToUpstream Direction = iota
	// FromUpstream is what the upstream answers, on its way to the client.
	FromUpstream
)

func (d Direction) String() string {
	switch d {
	case ToUpstream:
		return "to-upstream"
	case FromUpstream:
		return "from-upstream"
	}
	return "direction(?)"
}

const (
	chunkSize   = 16 << 10 // one read
	queueChunks = 256      // chunks read but not yet delivered, per direction and connection
	dialTimeout = 2 * time.Second
)

// Proxy forwards connections accepted on its loopback port to one upstream
// address, with the faults the test sets. Its methods are safe for
// concurrent use.
type Proxy struct {
	name     string
	ln       net.Listener
	upstream string
	done     chan struct{} // closed by Close
	wg       sync.WaitGroup

	mu      sync.Mutex // guards held, delay, changed, conns and closed
	held    [2]bool
	delay   [2]time.Duration
	changed chan struct{} // closed and replaced on every change of held or delay
	conns   map[net.Conn]struct{}
	closed  bool
}

// Start listens on a free loopback port and forwards to upstream. The proxy
// is closed when the test ends. name appears in failure messages.
func Start(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	p, err := Listen(name, upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Listen is Start without a test: the caller must Close the proxy.
func Listen(name, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(errors.New("faultproxy "+name+": listen on a loopback port"), err)
	}
	p := &Proxy{
		name:     name,
		ln:       ln,
		upstream: upstream,
		done:     make(chan struct{}),
		changed:  make(chan struct{}),
		conns:    map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Name is the name given to Start.
func (p *Proxy) Name() string { return p.name }

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Hold blackholes both directions until Heal: nothing is delivered, every
// connection stays open.
func (p *Proxy) Hold() {
	p.update(func() { p.held = [2]bool{true, true} })
}

// HoldDirection blackholes one direction until Heal; the other keeps
// flowing (with its delay, if any).
func (p *Proxy) HoldDirection(dir Direction) {
	p.update(func() { p.held[dir] = true })
}

// Delay makes every byte of dir read from now on wait d in the proxy before
// it is delivered; bytes already waiting are delivered d after they were
// read. 0 removes the delay.
func (p *Proxy) Delay(dir Direction, d time.Duration) {
	p.update(func() { p.delay[dir] = max(d, 0) })
}

// Heal removes every hold and delay: what waited is delivered at once, in
// order.
func (p *Proxy) Heal() {
	p.update(func() {
		p.held = [2]bool{}
		p.delay = [2]time.Duration{}
	})
}

func (p *Proxy) update(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

// fault is dir's state now and a channel closed at its next change.
func (p *Proxy) fault(dir Direction) (held bool, delay time.Duration, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[dir], p.delay[dir], p.changed
}

// Close stops accepting, closes every connection and waits for the proxy's
// goroutines. It is safe to call twice.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
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

// track registers c so that Close closes it; false when already closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
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

// serve dials upstream once ToUpstream is not held, and forwards both ways.
// A failed dial closes the accepted connection, as a refused one would be.
func (p *Proxy) serve(in net.Conn) {
	defer p.wg.Done()
	defer p.untrack(in)
	for {
		held, _, changed := p.fault(ToUpstream)
		if !held {
			break
		}
		select {
		case <-changed:
		case <-p.done:
			return
		}
	}
	out, err := net.DialTimeout("tcp", p.upstream, dialTimeout)
	if err != nil {
		return
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.forward(ToUpstream, out, in) }()
	go func() { defer wg.Done(); p.forward(FromUpstream, in, out) }()
	wg.Wait()
}

// chunk is bytes read from one side, stamped with when they were read.
type chunk struct {
	b    []byte
	read time.Time
}

// forward copies src to dst for one direction: a reader stamps what it reads
// and queues it (bounded), a writer delivers each chunk once its direction
// is not held and its delay has passed. When either side fails, both
// connections are closed, which ends the other direction too; bytes read
// before src ended are still delivered first.
func (p *Proxy) forward(dir Direction, dst, src net.Conn) {
	queue := make(chan chunk, queueChunks)
	stop := make(chan struct{}) // closed when the writer gives up
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the reader
		defer wg.Done()
		defer close(queue)
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case queue <- chunk{b: buf[:n], read: time.Now()}:
				case <-stop:
					return
				case <-p.done:
					return
				}
			}
			if err != nil { // io.EOF too: gRPC needs no half-close
				return
			}
		}
	}()
	defer wg.Wait()
	defer src.Close()
	defer dst.Close()
	defer close(stop)
	for c := range queue {
		if !p.wait(dir, c.read) {
			return
		}
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}

// wait blocks until a chunk of dir read at read may be delivered; false once
// the proxy is closed.
func (p *Proxy) wait(dir Direction, read time.Time) bool {
	for {
		held, delay, changed := p.fault(dir)
		if !held {
			left := time.Until(read.Add(delay))
			if left <= 0 {
				return true
			}
			timer := time.NewTimer(left)
			select {
			case <-timer.C: // look again: a hold may have come with the deadline
			case <-changed:
				timer.Stop()
			case <-p.done:
				timer.Stop()
				return false
			}
			continue
		}
		select {
		case <-changed:
		case <-p.done:
			return false
		}
	}
}
