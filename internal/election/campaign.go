package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

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
	key     string
	token   fencing.Token
	wonAt   time.Time

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // the key watcher and the lease timer
}

// Campaign blocks until this session's key is the oldest under prefix+"/", then
// returns the won leadership. It returns ErrSessionExpired if the session
// dies first, and ctx's error if ctx ends first; then the candidate key is
// withdrawn where etcd can still be reached.
//
// It follows concurrency.Election.Campaign, with two differences: it returns
// when the session expires (etcd issue 19597), and it watches each older key
// from the revision after its read, so that the watch starts synced in etcd
// and a deletion is seen at once (a watch from an already-seen revision waits
// up to 100 ms for etcd's catch-up loop).
func Campaign(ctx context.Context, s *Session, prefix string, value []byte) (*Leadership, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.cs.Ctx(), func() { cancel(ErrSessionExpired) })
	defer stop()
	fail := func(err error) error {
		if c := context.Cause(cctx); errors.Is(c, ErrSessionExpired) || errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return ErrSessionExpired
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("election: campaign: %w", err)
	}

	c := s.cs.Client()
	key := fmt.Sprintf("%s/%x", prefix, int64(s.LeaseID()))
	resp, err := c.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithLease(s.LeaseID()))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return nil, fail(err)
	}
	rev := resp.Header.Revision
	if !resp.Succeeded {
		kv := resp.Responses[0].GetResponseRange().Kvs[0]
		rev = kv.CreateRevision
		if string(kv.Value) != string(value) {
			if _, err := c.Txn(cctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).
				Then(clientv3.OpPut(key, string(value), clientv3.WithIgnoreLease())).Commit(); err != nil {
				return nil, fail(err)
			}
		}
	}
	if err := waitDeletes(cctx, c, prefix+"/", rev-1); err != nil {
		if !errors.Is(context.Cause(cctx), ErrSessionExpired) {
			// Withdraw the candidacy (bounded; the lease removes it anyway).
			wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			c.Txn(wctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).Then(clientv3.OpDelete(key)).Commit()
			wcancel()
		}
		return nil, fail(err)
	}
	l := &Leadership{
		session: s,
		key:     key,
		token:   fencing.Token(rev),
		wonAt:   time.Now(),
	}
	// Leadership outlives the campaign's ctx only through its own context,
	// derived from the session's.
	l.ctx, l.cancel = context.WithCancelCause(s.cs.Ctx())
	l.wg.Add(2)
	go l.watchKey()
	go l.watchLease()
	return l, nil
}

// waitDeletes waits until no key under pfx has a create revision at or
// below maxCreateRev.
func waitDeletes(ctx context.Context, c *clientv3.Client, pfx string, maxCreateRev int64) error {
	for {
		r, err := c.Get(ctx, pfx, append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(maxCreateRev))...)
		if err != nil {
			return err
		}
		if len(r.Kvs) == 0 {
			return nil
		}
		if err := waitDelete(ctx, c, string(r.Kvs[0].Key), r.Header.Revision+1); err != nil {
			return err
		}
	}
}

func waitDelete(ctx context.Context, c *clientv3.Client, key string, fromRev int64) error {
	return watchGone(ctx, c, key, fromRev, 0)
}

// syncPoll is how long a new watch is backed by polling. etcd delivers
// events to a watch that starts at an already-written revision from a
// catch-up loop that runs every 100 ms; until that loop has run, a deletion
// could reach us up to 100 ms late. A few cheap reads close the gap.
const (
	syncPoll      = 150 * time.Millisecond
	syncPollEvery = 5 * time.Millisecond
)

// watchGone returns nil once key is deleted, or recreated with a create
// revision other than createRev (when createRev is not 0), as seen from
// fromRev on; or an error when the watch fails or ctx ends.
func watchGone(ctx context.Context, c *clientv3.Client, key string, fromRev, createRev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := c.Watch(clientv3.WithRequireLeader(wctx), key, clientv3.WithRev(fromRev))
	poll := time.NewTicker(syncPollEvery)
	defer poll.Stop()
	pollC, pollEnd := poll.C, time.Now().Add(syncPoll)
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return errors.New("election: watch ended")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE || (createRev != 0 && ev.Kv.CreateRevision != createRev) {
					return nil
				}
			}
		case <-pollC:
			if time.Now().After(pollEnd) {
				poll.Stop()
				pollC = nil
				continue
			}
			r, err := c.Get(wctx, key)
			if err == nil && (len(r.Kvs) == 0 || (createRev != 0 && r.Kvs[0].CreateRevision != createRev)) {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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

// ValidUntil is the monotonic instant until which this leadership is
// certainly held (see the package doc for the rule); the zero time once its
// context ended. An action that skips etcd must complete before it.
func (l *Leadership) ValidUntil() time.Time {
	select {
	case <-l.ctx.Done():
		return time.Time{}
	case <-l.session.Done():
		return time.Time{}
	default:
	}
	return l.session.ValidUntil()
}

// Resign deletes the leader key so another candidate can win at once, and
// ends this leadership. It is safe to call more than once.
func (l *Leadership) Resign(ctx context.Context) error {
	l.cancel(ErrResigned)
	_, err := l.session.cs.Client().Txn(ctx).
		If(fencing.Guard(l.key, l.token)).Then(clientv3.OpDelete(l.key)).Commit()
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
func (l *Leadership) watchKey() {
	defer l.wg.Done()
	c := l.session.cs.Client()
	for l.ctx.Err() == nil {
		// Read, then watch from the next revision: the watch starts synced.
		gctx, cancel := context.WithTimeout(l.ctx, l.session.ttl)
		r, err := c.Get(gctx, l.key)
		cancel()
		if err != nil {
			// etcd is slow or unreachable: retry. If it stays so, the
			// session dies (no keepalive answered for a TTL) and
			// watchLease ends the leadership; meanwhile the validity,
			// which gates everything answered without etcd, runs out.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-l.ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if len(r.Kvs) == 0 || r.Kvs[0].CreateRevision != int64(l.token) {
			l.cancel(fmt.Errorf("leader key %s gone: %w", l.key, ErrLeadershipLost))
			return
		}
		err = watchGone(l.ctx, c, l.key, r.Header.Revision+1, int64(l.token))
		if err == nil {
			l.cancel(fmt.Errorf("leader key %s deleted: %w", l.key, ErrLeadershipLost))
			return
		}
		// The watch broke (compaction, lost etcd leader): read the key again
		// and watch from there; never assume it still exists.
	}
}

// watchLease cancels leadership when the session dies: etcd answered no
// keepalive for a TTL, or the session was closed. A lapse of the validity
// alone (answers slower than the renewal period allows, on a loaded machine)
// does not end leadership: the lease may well live in etcd, writes stay
// fenced there whatever happens, and everything answered without etcd is
// gated by the validity itself (Leadership.ValidUntil), so it pauses until
// a renewal is answered again instead of forcing a failover.
func (l *Leadership) watchLease() {
	defer l.wg.Done()
	select {
	case <-l.ctx.Done():
	case <-l.session.Done():
		l.cancel(fmt.Errorf("session ended: %w", ErrLeadershipLost))
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
