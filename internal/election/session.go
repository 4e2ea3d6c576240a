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
//
// The validity rule (see the package doc): a renewal that etcd answered,
// sent at S (this process's monotonic clock, read before the request left)
// and granting TTL, proves the lease lives until at least S+TTL, whenever the
// answer arrives; validity is S+TTL-margin for the latest such S. Only the
// renewals this Session sends itself are counted, since only for those is S
// known: the etcd client's own keepalives (concurrency.Session) keep the
// lease alive too, but their answers carry no send time and never extend
// the validity.
type Session struct {
	cs  *concurrency.Session
	ttl time.Duration
	now func() time.Time

	mu         sync.Mutex // guards validUntil
	validUntil time.Time  // monotonic; the lease may already be gone after this

	wg sync.WaitGroup // the renewal loop
}

// validityMargin is subtracted from every validity: it covers the rate
// difference between this host's clock and etcd's, and the step between a
// check of the validity and the action it allows. It covers no network
// delay: validity is counted from the send.
func validityMargin(ttl time.Duration) time.Duration {
	return max(ttl/10, 200*time.Millisecond)
}

// renewTimeout bounds one renewal. Its answer counts from its send however
// late it arrives; one arriving more than a TTL after its send proves
// nothing any more.
func renewTimeout(ttl time.Duration) time.Duration { return ttl }

// renewEvery is how often the Session sends its own renewal, and
// renewInFlight how many may wait for their answers at once: a slow answer
// does not hold back the next renewal, so a slow path to etcd (a loaded
// machine) shortens the validity only by its delay, not by whole periods.
func renewEvery(ttl time.Duration) time.Duration { return max(ttl/4, 100*time.Millisecond) }

const renewInFlight = 4

// NewSession grants a lease of the given TTL and keeps it alive until Close
// or Orphan is called, or etcd stops answering keepalives. ctx bounds only
// the grant.
func NewSession(ctx context.Context, c *clientv3.Client, ttl time.Duration) (*Session, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	sent := time.Now() // before the grant leaves: the lease lives at least TTL from here
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
	s.answered(sent, time.Duration(g.TTL)*time.Second)
	s.wg.Add(1)
	go s.renew(cs.Ctx(), func(ctx context.Context) (time.Duration, error) { // cs.Ctx() ends with Close and Orphan
		r, err := c.KeepAliveOnce(ctx, g.ID)
		if err != nil {
			return 0, err
		}
		return time.Duration(r.TTL) * time.Second, nil
	})
	return s, nil
}

// renewFunc sends one renewal and returns the TTL etcd's answer grants.
type renewFunc func(ctx context.Context) (time.Duration, error)

// renew sends a renewal every renewEvery(TTL) until ctx ends, each in its
// own goroutine (at most renewInFlight at once; a tick finding them all
// busy is skipped), and waits for them before it returns.
func (s *Session) renew(ctx context.Context, once renewFunc) {
	defer s.wg.Done()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, renewInFlight)
	t := time.NewTicker(renewEvery(s.ttl))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.renewOnce(ctx, once)
		}()
	}
}

// renewOnce sends one renewal and, when etcd answers it, counts the
// validity from the moment it was sent, however late the answer arrives.
func (s *Session) renewOnce(ctx context.Context, once renewFunc) {
	sent := s.now()
	rctx, cancel := context.WithTimeout(ctx, renewTimeout(s.ttl))
	defer cancel()
	if ttl, err := once(rctx); err == nil {
		s.answered(sent, ttl)
	}
}

// answered records that etcd answered a renewal sent at sent by granting
// ttl: the lease lives at least until sent+ttl. Validity only grows.
func (s *Session) answered(sent time.Time, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	until := sent.Add(ttl - validityMargin(ttl))
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
