package faultproxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// upstream is a loopback server that echoes what it reads, and records when
// each connection arrived and each byte was read.
type upstream struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex // guards accepted, got
	accepted int
	got      []timedBytes
}

type timedBytes struct {
	b  string
	at time.Time
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.accepted++
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						u.mu.Lock()
						u.got = append(u.got, timedBytes{string(buf[:n]), time.Now()})
						u.mu.Unlock()
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

func (u *upstream) accepts() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.accepted
}

// received is everything the upstream read so far, and when the last of it
// arrived.
func (u *upstream) received() (string, time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var s string
	var at time.Time
	for _, g := range u.got {
		s += g.b
		at = g.at
	}
	return s, at
}

// waitReceived polls (bounded) until the upstream read want.
func (u *upstream) waitReceived(t *testing.T, want string) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, at := u.received()
		if got == want {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream received %q; want %q within 20s", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

func read(c net.Conn, n int, within time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, n)
	k, err := io.ReadFull(c, buf)
	return string(buf[:k]), err
}

// noRead asserts that nothing arrives on c for a short while (a held
// direction); a later read still gets what was held.
func noRead(t *testing.T, c net.Conn, what string) {
	t.Helper()
	if got, err := read(c, 1, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: read = %q, %v; want nothing (a read timeout)", what, got, err)
	}
}

// TestForwardHoldHeal: bytes flow both ways; a held proxy delivers nothing
// but keeps the connection, and delivers what it held after Heal; a
// connection made while held is not dialled upstream until Heal; Close ends
// every connection and is safe twice.
func TestForwardHoldHeal(t *testing.T) {
	u := startUpstream(t)
	p := Start(t, "echo", u.ln.Addr().String())
	c := dial(t, p)
	write(t, c, "one")
	if got, err := read(c, 3, 20*time.Second); got != "one" || err != nil {
		t.Fatalf("echo through the proxy = %q, %v; want %q", got, err, "one")
	}
	p.Hold()
	write(t, c, "two")
	noRead(t, c, "echo through a held proxy")
	if got, _ := u.received(); got != "one" {
		t.Fatalf("upstream received %q while held; want only %q", got, "one")
	}
	held := dial(t, p)
	write(t, held, "new")
	noRead(t, held, "echo on a connection made while held")
	if n := u.accepts(); n != 1 {
		t.Fatalf("upstream accepted %d connections while the proxy held a new one; want 1", n)
	}
	p.Heal()
	if got, err := read(c, 3, 20*time.Second); got != "two" || err != nil {
		t.Fatalf("after Heal, the held bytes = %q, %v; want %q", got, err, "two")
	}
	if got, err := read(held, 3, 20*time.Second); got != "new" || err != nil {
		t.Fatalf("after Heal, the held connection's bytes = %q, %v; want %q", got, err, "new")
	}
	p.Close()
	if got, err := read(c, 1, 20*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after Close = %q, %v; want the connection closed", got, err)
	}
	p.Close()
}

// TestHoldDirection: holding the answers lets the requests through (the
// upstream reads them) while the client gets nothing; holding the requests
// stops them while answers already sent still come back.
func TestHoldDirection(t *testing.T) {
	u := startUpstream(t)
	p := Start(t, "echo", u.ln.Addr().String())
	c := dial(t, p)

	p.HoldDirection(FromUpstream)
	write(t, c, "ab")
	u.waitReceived(t, "ab")
	noRead(t, c, "answers held")
	p.Heal()
	if got, err := read(c, 2, 20*time.Second); got != "ab" || err != nil {
		t.Fatalf("after Heal, the held answer = %q, %v; want %q", got, err, "ab")
	}

	// Requests held, answers flowing: an answer delayed on its way back
	// still arrives after the requests were cut.
	p.Delay(FromUpstream, 300*time.Millisecond)
	write(t, c, "cd")
	u.waitReceived(t, "abcd")
	p.HoldDirection(ToUpstream)
	write(t, c, "ef")
	if got, err := read(c, 2, 20*time.Second); got != "cd" || err != nil {
		t.Fatalf("answer sent before the requests were held = %q, %v; want %q", got, err, "cd")
	}
	noRead(t, c, "requests held")
	if got, _ := u.received(); got != "abcd" {
		t.Fatalf("upstream received %q with requests held; want %q", got, "abcd")
	}
	p.Heal()
	u.waitReceived(t, "abcdef")
	if got, err := read(c, 2, 20*time.Second); got != "ef" || err != nil {
		t.Fatalf("after Heal = %q, %v; want %q", got, err, "ef")
	}
}

// TestDelay: a delayed direction never delivers a byte before its delay has
// passed since the proxy read it, keeps the order, and leaves the other
// direction alone; Heal delivers what waits at once.
func TestDelay(t *testing.T) {
	const d = 300 * time.Millisecond
	u := startUpstream(t)
	p := Start(t, "echo", u.ln.Addr().String())
	c := dial(t, p)
	write(t, c, "warm")
	if got, err := read(c, 4, 20*time.Second); got != "warm" || err != nil {
		t.Fatalf("echo = %q, %v; want %q", got, err, "warm")
	}

	for _, dir := range []Direction{ToUpstream, FromUpstream} {
		t.Run(dir.String(), func(t *testing.T) {
			p.Delay(dir, d)
			defer p.Heal()
			sent := time.Now()
			write(t, c, "x")
			write(t, c, "y")
			got, err := read(c, 2, 20*time.Second)
			if got != "xy" || err != nil {
				t.Fatalf("delayed echo = %q, %v; want %q", got, err, "xy")
			}
			if rtt := time.Since(sent); rtt < d {
				t.Fatalf("echo with %v delayed by %v came back after %v; want at least the delay", dir, d, rtt)
			}
		})
	}

	// A delay far beyond the test's bound: Heal must release the bytes.
	p.Delay(FromUpstream, time.Hour)
	write(t, c, "z")
	noRead(t, c, "an hour's delay")
	p.Heal()
	if got, err := read(c, 1, 20*time.Second); got != "z" || err != nil {
		t.Fatalf("after Heal, the delayed byte = %q, %v; want %q", got, err, "z")
	}
}

// TestUpstreamDown: a connection to a proxy whose upstream refuses is
// closed, as a refused one would be.
func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := Start(t, "down", addr)
	c := dial(t, p)
	if got, err := read(c, 1, 20*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read through a proxy to a closed port = %q, %v; want the connection closed", got, err)
	}
}
