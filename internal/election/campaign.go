package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/gfsha/master/internal/fencing"
)

// Sentinel errors.
var (
	// ErrSessionExpired reports that the session died while campaigning.
	ErrSessionExpired = errors.New("election: session expired")
	// ErrLeadershipLost is the cause of a leadership context's cancellation
	// when the leader key was deleted or the session died.
	ErrLeadershipLost = errors.New("election: leadership lost")
	// ErrResigned is the cause when the leader resigned.
	ErrResigned = errors.New("election: resigned")
	// ErrNoLeader reports that nobody holds the election.
	ErrNoLeader = errors.New("election: no leader")
)

// Leadership is won leadership. Its Context is cancelled when it ends.
type Leadership struct {
	session *Session
	elec    *concurrency.Election
	key     string
	token   fencing.Token
	wonAt   time.Time

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // the key watcher and the lease timer
}

// Campaign blocks until this session's key is the oldest under prefix+"/", then
// returns the won leadership. It returns ErrSessionExpired if the session
// dies first, and ctx's error if ctx ends first; in both cases the candidate
// key is withdrawn where etcd can still be reached.
func Campaign(ctx context.Context, s *Session, prefix string, value []byte) (*Leadership, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.cs.Ctx(), func() { cancel(ErrSessionExpired) })
	defer stop()

	e := concurrency.NewElection(s.cs, prefix)
	if err := e.Campaign(cctx, string(value)); err != nil {
		if c := context.Cause(cctx); errors.Is(c, ErrSessionExpired) {
			return nil, ErrSessionExpired
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("election: campaign: %w", err)
	}
	l := &Leadership{
		session: s,
		elec:    e,
		key:     e.Key(),
		token:   fencing.Token(e.Rev()),
		wonAt:   time.Now(),
	}
	// Leadership outlives the campaign's ctx only through its own context,
	// derived from the session's.
	l.ctx, l.cancel = context.WithCancelCause(s.cs.Ctx())
	l.wg.Add(2)
	go l.watchKey(e.Header().Revision)
	go l.watchLease()
	return l, nil
}

// Context is cancelled when leadership ends; context.Cause tells why.
func (l *Leadership) Context() context.Context { return l.ctx }

// Token is the fencing token: the leader key's create revision.
func (l *Leadership) Token() fencing.Token { return l.token }

// Key is the leader key, the one fencing.Guard compares.
func (l *Leadership) Key() string { return l.key }

// WonAt is when the campaign returned (monotonic).
func (l *Leadership) WonAt() time.Time { return l.wonAt }

// Session is the session that won.
func (l *Leadership) Session() *Session { return l.session }

// Valid reports whether leadership can still be assumed for a read: the
// context is live and the lease is certainly valid.
func (l *Leadership) Valid() bool {
	return l.ctx.Err() == nil && l.session.LeaseValid()
}

// Resign deletes the leader key so another candidate can win at once, and
// ends this leadership. It is safe to call more than once.
func (l *Leadership) Resign(ctx context.Context) error {
	l.cancel(ErrResigned)
	err := l.elec.Resign(ctx)
	l.wg.Wait()
	if err != nil {
		return fmt.Errorf("election: resign: %w", err)
	}
	return nil
}

// Release ends this leadership locally without touching etcd and waits for
// its goroutines. The key stays until the session ends.
func (l *Leadership) Release() {
	l.cancel(ErrResigned)
	l.wg.Wait()
}

// watchKey cancels leadership when the leader key is deleted or replaced.
func (l *Leadership) watchKey(fromRev int64) {
	defer l.wg.Done()
	c := l.session.cs.Client()
	for l.ctx.Err() == nil {
		wch := c.Watch(clientv3.WithRequireLeader(l.ctx), l.key, clientv3.WithRev(fromRev+1))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE || ev.Kv.CreateRevision != int64(l.token) {
					l.cancel(fmt.Errorf("leader key %s deleted at revision %d: %w", l.key, wr.Header.Revision, ErrLeadershipLost))
					return
				}
			}
			fromRev = wr.Header.Revision
		}
		if l.ctx.Err() != nil {
			return
		}
		// The watch broke (compaction, lost etcd leader): check the key once
		// and watch again from now; never assume it still exists.
		gctx, cancel := context.WithTimeout(l.ctx, l.session.ttl)
		r, err := c.Get(gctx, l.key)
		cancel()
		if err != nil {
			if l.ctx.Err() == nil && !l.session.LeaseValid() {
				l.cancel(fmt.Errorf("cannot confirm leader key: %v: %w", err, ErrLeadershipLost))
				return
			}
			continue
		}
		if len(r.Kvs) == 0 || r.Kvs[0].CreateRevision != int64(l.token) {
			l.cancel(fmt.Errorf("leader key %s gone: %w", l.key, ErrLeadershipLost))
			return
		}
		fromRev = r.Header.Revision
	}
}

// watchLease cancels leadership when the session dies or when the lease's
// certain validity runs out without a renewal (etcd unreachable).
func (l *Leadership) watchLease() {
	defer l.wg.Done()
	for {
		d := time.Until(l.session.ValidUntil())
		t := time.NewTimer(max(d, time.Millisecond))
		select {
		case <-l.ctx.Done():
			t.Stop()
			return
		case <-l.session.Done():
			t.Stop()
			l.cancel(fmt.Errorf("session ended: %w", ErrLeadershipLost))
			return
		case <-t.C:
			if !l.session.LeaseValid() {
				l.cancel(fmt.Errorf("lease not renewed within its TTL: %w", ErrLeadershipLost))
				return
			}
		}
	}
}

// Leader is who holds the election now.
type Leader struct {
	Key   string
	Token fencing.Token
	Value []byte
	Lease clientv3.LeaseID
}

// CurrentLeader returns the holder of the election under prefix, or
// ErrNoLeader. The read is linearizable.
func CurrentLeader(ctx context.Context, c *clientv3.Client, prefix string) (Leader, error) {
	l, _, err := currentLeader(ctx, c, prefix)
	return l, err
}

// currentLeader also returns the revision the answer was read at.
func currentLeader(ctx context.Context, c *clientv3.Client, prefix string) (Leader, int64, error) {
	r, err := c.Get(ctx, prefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return Leader{}, 0, fmt.Errorf("election: read leader: %w", err)
	}
	if len(r.Kvs) == 0 {
		return Leader{}, r.Header.Revision, ErrNoLeader
	}
	kv := r.Kvs[0]
	return Leader{Key: string(kv.Key), Token: fencing.Token(kv.CreateRevision), Value: kv.Value, Lease: clientv3.LeaseID(kv.Lease)}, r.Header.Revision, nil
}
