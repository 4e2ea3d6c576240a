package election

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/faultproxy"
)

// validityTTL is short so that each case takes a few seconds; the
// assertions compare events, not durations, so a slow machine changes how
// long a case takes, never its verdict.
const validityTTL = 3 * time.Second

// proxiedClient is an etcd client that reaches srv only through p.
func proxiedClient(t *testing.T, p *faultproxy.Proxy) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{p.Addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client through %s: %v", p.Name(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expiry runs fault against a leader whose etcd connection goes through a
// proxy, and returns the leadership, its session and the moment a second,
// direct client saw the session's lease gone from etcd (its key deleted).
// The lease really ended at or before that moment.
func expiry(t *testing.T, srv *embedetcd.Server, direct *clientv3.Client, name string, fault func(*faultproxy.Proxy)) (*Leadership, *Session, time.Time) {
	t.Helper()
	p := faultproxy.Start(t, name, srv.Endpoint())
	c := proxiedClient(t, p)
	s := newSessionNoCleanup(t, c, validityTTL)
	t.Cleanup(func() { p.Heal(); s.Orphan() })
	l, err := Campaign(t.Context(), s, prefix+"/"+name, []byte(name))
	if err != nil {
		t.Fatalf("Campaign: %v", err)
	}
	t.Cleanup(l.Release)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := direct.Get(ctx, l.Key())
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("leader key %s: %v, %v", l.Key(), r, err)
	}
	wch := direct.Watch(ctx, l.Key(), clientv3.WithRev(r.Header.Revision+1))

	fault(p)
	for {
		select {
		case wr := <-wch:
			if err := wr.Err(); err != nil {
				t.Fatalf("watch %s: %v", l.Key(), err)
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					return l, s, time.Now()
				}
			}
		case <-ctx.Done():
			t.Fatalf("the lease of %s did not expire in etcd within 30s of the fault", name)
		}
	}
}

func newSessionNoCleanup(t *testing.T, c *clientv3.Client, ttl time.Duration) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := NewSession(ctx, c, ttl)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}

// checkNotValidAtExpiry: once etcd expired the lease, the holder must not
// believe it valid, and its certain validity must have ended no later.
func checkNotValidAtExpiry(t *testing.T, l *Leadership, s *Session, gone time.Time) {
	t.Helper()
	if until := s.ValidUntil(); until.After(gone) {
		t.Errorf("ValidUntil is %v after etcd expired the lease; want it at or before the expiry", until.Sub(gone).Round(time.Millisecond))
	}
	if s.LeaseValid() {
		t.Error("LeaseValid() = true after etcd expired the lease")
	}
	if l.Valid() {
		t.Error("Leadership.Valid() = true after etcd expired the lease")
	}
}

// pause lets a fault act for d: the time is part of the fault, not a wait
// for a condition.
func pause(d time.Duration) { time.Sleep(d) }

// TestValidityCountsFromSendNotArrival: a renewal sent at S whose answer
// arrives D later (a slow path back, a GC stall, a SIGSTOP with the answer
// in the socket) proves the lease until S+TTL, not S+D+TTL: etcd counted
// the TTL from when it processed the renewal, at or before the answer left.
// A renewal etcd did not answer proves nothing. The clock is the session's
// own, moved by the fake renewal as the delay would move it.
func TestValidityCountsFromSendNotArrival(t *testing.T) {
	const ttl = 10 * time.Second
	start := time.Now()
	now := start
	s := &Session{ttl: ttl, now: func() time.Time { return now }}
	answerAfter := func(d time.Duration, err error) renewFunc {
		return func(context.Context) (time.Duration, error) {
			now = now.Add(d) // the answer arrives d after the send
			return ttl, err
		}
	}
	margin := validityMargin(ttl)

	s.renewOnce(t.Context(), answerAfter(4500*time.Millisecond, nil))
	if got, want := s.ValidUntil().Sub(start), ttl-margin; got != want {
		t.Fatalf("after a renewal sent at 0 and answered at 4.5s, validity ends at %v; want %v (send + TTL - margin)", got, want)
	}

	// A renewal etcd did not answer extends nothing, however long it took.
	before := s.ValidUntil()
	s.renewOnce(t.Context(), answerAfter(time.Second, errors.New("deadline exceeded")))
	if got := s.ValidUntil(); !got.Equal(before) {
		t.Fatalf("an unanswered renewal moved the validity by %v; want no change", got.Sub(before))
	}

	// Validity never goes back: an older renewal's answer arriving last
	// cannot shorten it (answered is given its own send time).
	s.answered(start, ttl)
	if got := s.ValidUntil(); !got.Equal(before) {
		t.Fatalf("an older renewal's answer moved the validity by %v; want no change", got.Sub(before))
	}

	// Only the first renewal proved anything: TTL-margin after its send the
	// validity is over (counted from its arrival it would last 4.5s more).
	now = start.Add(ttl - margin)
	if s.now().Before(s.ValidUntil()) {
		t.Fatalf("validity still running %v after the only answered renewal was sent (TTL %v)", ttl-margin, ttl)
	}
}

// TestValidityNeverOutlivesTheLease: whatever slows or cuts the leader's
// path to etcd, its validity ends no later than etcd's lease. The first case
// is issue 10's reproduction: etcd's answers reach the leader late, then its
// requests stop reaching etcd; etcd expires the lease TTL after the last
// renewal it processed while the answers to the last renewals are still on
// their way, and a validity counted from their arrival would outlive it.
func TestValidityNeverOutlivesTheLease(t *testing.T) {
	srv := embedetcd.StartT(t)
	direct := embedetcd.ClientT(t, srv)
	for _, tc := range []struct {
		name  string
		fault func(*faultproxy.Proxy)
	}{
		{"late-answers-then-requests-cut", func(p *faultproxy.Proxy) {
			p.Delay(faultproxy.FromUpstream, validityTTL/3)
			pause(validityTTL / 2) // renewals go on; their answers are on the way
			p.HoldDirection(faultproxy.ToUpstream)
		}},
		{"cut", func(p *faultproxy.Proxy) { p.Hold() }},
		{"slow-requests-then-cut", func(p *faultproxy.Proxy) {
			p.Delay(faultproxy.ToUpstream, validityTTL/3)
			pause(validityTTL / 2)
			p.Hold()
		}},
		{"answers-later-than-the-ttl-then-requests-cut", func(p *faultproxy.Proxy) {
			p.Delay(faultproxy.FromUpstream, validityTTL+validityTTL/2)
			pause(validityTTL / 3)
			p.HoldDirection(faultproxy.ToUpstream)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, s, gone := expiry(t, srv, direct, tc.name, tc.fault)
			checkNotValidAtExpiry(t, l, s, gone)
		})
	}
}
