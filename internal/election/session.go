package election

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Session is an etcd lease kept alive in the background, plus the local,
// conservative knowledge of until when that lease is certainly valid.
type Session struct {
	cs  *concurrency.Session
	ttl time.Duration
	now func() time.Time

	mu         sync.Mutex // guards validUntil
	validUntil time.Time  // monotonic; the lease may already be gone after this

	wg sync.WaitGroup // the keepalive observer
}

// leaseMargin is subtracted from every validity estimate: it covers the
// one-way delay of a keepalive answer and clock drift between hosts.
func leaseMargin(ttl time.Duration) time.Duration {
	m := ttl / 10
	if m < 200*time.Millisecond {
		m = 200 * time.Millisecond
	}
	return m
}

// NewSession grants a lease of the given TTL and keeps it alive until Close
// or Orphan is called, or etcd stops answering keepalives. ctx bounds only
// the grant.
func NewSession(ctx context.Context, c *clientv3.Client, ttl time.Duration) (*Session, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	start := time.Now()
	g, err := c.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("election: grant lease: %w", err)
	}
	cs, err := concurrency.NewSession(c, concurrency.WithLease(g.ID), concurrency.WithTTL(int(secs)))
	if err != nil {
		c.Revoke(context.WithoutCancel(ctx), g.ID)
		return nil, fmt.Errorf("election: start session: %w", err)
	}
	s := &Session{cs: cs, ttl: time.Duration(secs) * time.Second, now: time.Now}
	s.validUntil = start.Add(s.ttl - leaseMargin(s.ttl))

	// A second keepalive channel on the same lease lets us see each renewal:
	// the client shares one keepalive loop among all channels of a lease.
	kctx, cancel := context.WithCancel(cs.Ctx())
	ka, err := c.KeepAlive(kctx, g.ID)
	if err != nil {
		cancel()
		cs.Close()
		return nil, fmt.Errorf("election: keepalive: %w", err)
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer cancel()
		for r := range ka {
			s.renewed(time.Duration(r.TTL) * time.Second)
		}
	}()
	// Our own, more frequent keepalives (every TTL/4) time each renewal
	// from its send: the lease expires no earlier than send+TTL, so the
	// validity needs no allowance for the answer's delay, and a slow
	// answer or two does not end a healthy leadership.
	go func() {
		defer s.wg.Done()
		every := max(s.ttl/4, 100*time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
			sent := s.now()
			octx, ocancel := context.WithTimeout(kctx, every)
			r, err := c.KeepAliveOnce(octx, g.ID)
			ocancel()
			if err == nil && r.TTL > 0 {
				s.extend(sent.Add(time.Duration(r.TTL)*time.Second - s.ttl/20))
			}
		}
	}()
	return s, nil
}

// extend moves the certain validity forward to until (never back).
func (s *Session) extend(until time.Time) {
	s.mu.Lock()
	if until.After(s.validUntil) {
		s.validUntil = until
	}
	s.mu.Unlock()
}

// renewed records a keepalive answer granting ttl from now. The answer was
// produced before it arrived, so the true expiry is no later than now+ttl;
// the margin covers the delay and clock drift.
func (s *Session) renewed(ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	until := s.now().Add(ttl - leaseMargin(ttl))
	s.mu.Lock()
	if until.After(s.validUntil) {
		s.validUntil = until
	}
	s.mu.Unlock()
}

// LeaseID is the session's lease.
func (s *Session) LeaseID() clientv3.LeaseID { return s.cs.Lease() }

// LeaseIDHex is the lease written as `etcdctl lease list` prints it, which
// `etcdctl lease revoke` accepts.
func (s *Session) LeaseIDHex() string { return fmt.Sprintf("%016x", int64(s.cs.Lease())) }

// TTL is the lease's time to live.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done is closed when the session can no longer keep its lease alive.
func (s *Session) Done() <-chan struct{} { return s.cs.Done() }

// ValidUntil is the monotonic instant until which the lease is certainly
// alive, as far as this process can know.
func (s *Session) ValidUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validUntil
}

// LeaseValid reports whether the lease is certainly alive now. A process
// that was paused past its lease sees false here the moment it resumes.
func (s *Session) LeaseValid() bool {
	select {
	case <-s.cs.Done():
		return false
	default:
	}
	return s.now().Before(s.ValidUntil())
}

// Concurrency exposes the underlying etcd session.
func (s *Session) Concurrency() *concurrency.Session { return s.cs }

// Close revokes the lease (deleting every key attached to it) and waits for
// the session's goroutines. It is safe to call twice.
func (s *Session) Close() error {
	err := s.cs.Close()
	s.wg.Wait()
	return err
}

// Orphan stops keeping the lease alive without revoking it, so its keys live
// until the TTL runs out, as if the process had crashed.
func (s *Session) Orphan() {
	s.cs.Orphan()
	s.wg.Wait()
}
