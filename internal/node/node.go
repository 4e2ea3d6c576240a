package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/checkpoint"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/fencing"
	"github.com/gfsha/master/internal/incarnation"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/walship"
)

// Config configures a Node.
type Config struct {
	Client      *clientv3.Client
	Keys        cluster.Keys
	NodeID      string
	Address     string // RPC address, advertised in the election value
	HTTPAddress string
	LeaseTTL    time.Duration
	// MaxBatchBytes, CommitTimeout, MaxQueueBytes and QueueWait tune the
	// appender (0: defaults; see walship.AppenderConfig).
	MaxBatchBytes int
	CommitTimeout time.Duration
	MaxQueueBytes int
	QueueWait     time.Duration
	// StatusInterval is how often member status is refreshed in etcd while
	// it changes (default 250 ms).
	StatusInterval time.Duration
	Logger         *slog.Logger
	// Metrics, if set, receives events (see Metrics).
	Metrics Metrics

	// DataDir holds checkpoints; empty turns checkpoints (and so trimming
	// and fast restart) off.
	DataDir string
	// CheckpointEntries: write a checkpoint after this many applied entries
	// (default 1,000,000), checked every CheckpointInterval (default 10 s).
	CheckpointEntries  uint64
	CheckpointInterval time.Duration
	// KeepCheckpoints on disk (at least 2).
	KeepCheckpoints int
	// TrimInterval: how often the primary trims the log (default 5 s).
	TrimInterval time.Duration
	// Compact etcd's history after each trim (only where this system owns
	// the etcd cluster).
	Compact bool
	// Fetch streams a peer's checkpoint (joining from nothing).
	Fetch FetchFunc
	// Incarnation is DataDir, locked by the caller (the server locks it
	// before anything else). Nil with a DataDir: Run locks it itself.
	Incarnation *incarnation.Dir
	// CrashDetect: how long the primary's address must actively refuse
	// connections before this standby revokes its lease (0: off).
	CrashDetect time.Duration
}

// CommitTimeoutOrDefault is the bound on one etcd round trip of the write
// path (5 s unless set).
func (c Config) CommitTimeoutOrDefault() time.Duration {
	if c.CommitTimeout > 0 {
		return c.CommitTimeout
	}
	return 5 * time.Second
}

// Metrics receives the node's events. Implementations must be fast and
// safe for concurrent use.
type Metrics interface {
	RoleChanged(role string)
	BatchCommitted(records, bytes int, took time.Duration)
	Promoted(p cluster.Promotion)
}

// Node is one master.
type Node struct {
	cfg   Config
	log   *slog.Logger
	state *meta.State
	sm    stateMachine

	mu         sync.Mutex // guards the fields below
	role       string
	session    *election.Session
	lead       *election.Leadership
	appender   *walship.Appender
	tailer     *walship.Tailer
	leader     cluster.LeaderValue // current holder of the election, as observed
	lastToken  fencing.Token       // token of the last applied record
	promotion  *cluster.Promotion
	replayErr  error
	statusKick chan struct{}
	promoted   chan struct{} // closed and replaced each time this node starts serving

	pub        statusPub
	confirm    confirmer // shares leadership confirmations among readers
	paused     atomic.Bool
	pauseCh    chan struct{}  // closed and replaced on every pause change
	draining   string         // switchover target while handing over; guarded by mu
	inflight   sync.WaitGroup // proposals being appended
	store      *checkpoint.Store
	ckptMu     sync.Mutex    // serializes checkpoint writes
	ckptIndex  atomic.Uint64 // newest local checkpoint
	ckptOldest atomic.Uint64 // oldest local checkpoint the log can replay from (0: none)
	ckptAt     atomic.Int64
	trimmedTo  atomic.Uint64
	logFirst   atomic.Uint64             // the log's first index as last learned (0: not yet)
	inc        *incarnation.Dir          // the locked data dir, if any
	pastLeases map[clientv3.LeaseID]bool // this process's earlier sessions not known revoked; guarded by mu

	// crashDial, in tests, replaces the crash detector's dialer.
	crashDial election.DialFunc

	// applyHook, in tests, runs before each record is applied.
	applyHook func(walship.Record)
}

// New makes a node; Run drives it.
func New(cfg Config) *Node {
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CheckpointEntries == 0 {
		cfg.CheckpointEntries = 1_000_000
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = 10 * time.Second
	}
	if cfg.TrimInterval == 0 {
		cfg.TrimInterval = 5 * time.Second
	}
	st := meta.New()
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("node", cfg.NodeID),
		state:      st,
		role:       cluster.RoleStandby,
		statusKick: make(chan struct{}, 1),
		promoted:   make(chan struct{}),
		pauseCh:    make(chan struct{}),
		pastLeases: map[clientv3.LeaseID]bool{},
	}
	n.sm = stateMachine{n: n}
	return n
}

// State is the node's state machine (read-only use: Stat, List, Digest).
func (n *Node) State() *meta.State { return n.state }

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// stateMachine adapts meta.State to walship and tracks the last token.
type stateMachine struct{ n *Node }

func (s stateMachine) Apply(r walship.Record) any {
	if s.n.applyHook != nil {
		s.n.applyHook(r)
	}
	res := s.n.state.ApplyEncodedAt(r.Index, r.Time, r.Data)
	s.n.mu.Lock()
	s.n.lastToken = r.Token
	s.n.mu.Unlock()
	return res
}

func (s stateMachine) AppliedIndex() uint64 { return s.n.state.AppliedIndex() }

// Role is the node's current role.
func (n *Node) Role() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.role
}

func (n *Node) setRole(role, why string) {
	n.mu.Lock()
	old := n.role
	n.role = role
	n.mu.Unlock()
	if old != role {
		n.log.Info("role change", "from", old, "to", role, "why", why)
		if n.cfg.Metrics != nil {
			n.cfg.Metrics.RoleChanged(role)
		}
		n.kickStatus()
	}
}

func (n *Node) kickStatus() {
	select {
	case n.statusKick <- struct{}{}:
	default:
	}
}

// Promoted returns a channel closed the next time this node starts serving.
func (n *Node) Promoted() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.promoted
}

// Run drives the node until ctx ends. It keeps retrying, with logs, while
// etcd is unreachable, and returns only ctx's error or a broken log.
func (n *Node) Run(ctx context.Context) error {
	if n.cfg.DataDir != "" {
		n.inc = n.cfg.Incarnation
		if n.inc == nil {
			d, err := incarnation.Lock(n.cfg.DataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			n.inc = d
		}
		st, err := checkpoint.Open(filepath.Join(n.cfg.DataDir, "checkpoints"), n.cfg.KeepCheckpoints, n.log)
		if err != nil {
			return err
		}
		n.store = st
		if err := n.restore(); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(3)
	go func() { defer wg.Done(); n.observeLeader(ctx) }()
	go func() { defer wg.Done(); n.publishStatus(ctx) }()
	go func() { defer wg.Done(); n.watchPause(ctx) }()
	if n.cfg.CrashDetect > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); n.detectCrashes(ctx) }()
	}
	if n.store != nil {
		wg.Add(2)
		go func() { defer wg.Done(); n.checkpointLoop(ctx) }()
		go func() { defer wg.Done(); n.trimLoop(ctx) }()
	}

	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := n.term(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errNeedCheckpoint):
			n.log.Warn("log trimmed past this member's state; fetching a checkpoint from a peer")
			if ferr := n.fetchCheckpoint(ctx); ferr != nil {
				n.log.Warn("retrying", "err", ferr, "in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
				backoff = min(2*backoff, 5*time.Second)
			}
		case errors.Is(err, ErrDuplicateMember):
			n.log.Error("refusing to run a second master with this node_id", "err", err)
			return err
		case errors.Is(err, ErrReplay):
			n.log.Error("replay stopped; this node will not serve until the log is repaired", "err", err)
			<-ctx.Done()
			return err
		case err != nil:
			n.log.Warn("retrying", "err", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(2*backoff, 5*time.Second)
		default:
			backoff = 100 * time.Millisecond
		}
	}
	return ctx.Err()
}

// term is one session: replay and campaign, then (maybe) lead. It returns
// when the session or leadership ends.
func (n *Node) term(ctx context.Context) error {
	n.setRole(cluster.RoleStandby, "new session")
	// Before any status is published (it needs the session below): which
	// checkpoints the log can still replay from, so that a restarted member
	// never publishes one the log no longer reaches.
	if n.store != nil {
		fctx, cancel := context.WithTimeout(ctx, min(n.cfg.LeaseTTL, 3*time.Second))
		first, err := walship.ReadFirst(fctx, n.cfg.Client, n.cfg.Keys.WAL())
		cancel()
		if err != nil {
			return fmt.Errorf("cannot read the log's first index (etcd unreachable?): %w", err)
		}
		n.noteLogFirst(first)
	}
	// Bounded well under the TTL, so an unreachable etcd is reported soon.
	sctx, cancel := context.WithTimeout(ctx, min(n.cfg.LeaseTTL, 3*time.Second))
	s, err := election.NewSession(sctx, n.cfg.Client, n.cfg.LeaseTTL)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot start an etcd session (etcd unreachable?): %w", err)
	}
	closeSession := func() {
		// A fresh session for the next term: revoke this one so no stale
		// election key lingers (bounded: etcd may be unreachable).
		done := make(chan error, 1)
		go func() { done <- s.Close() }()
		select {
		case err := <-done:
			if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
				n.forgetLease(s.LeaseID())
				return
			}
		case <-time.After(n.cfg.LeaseTTL):
		}
		n.log.Warn("could not revoke old session; its lease will expire", "lease", s.LeaseIDHex())
	}
	// The lease is on record in the locked data dir before anything is
	// attached to it, so a restart after a crash can revoke it.
	n.mu.Lock()
	n.pastLeases[s.LeaseID()] = true
	n.mu.Unlock()
	if n.inc != nil {
		if err := n.inc.Record(int64(s.LeaseID())); err != nil {
			closeSession()
			return err
		}
	}
	if err := n.takeOver(ctx, s.LeaseID()); err != nil {
		closeSession()
		return err
	}
	// A live twin with this node_id is refused before this node writes
	// anything (the member key is claimed first, in a transaction).
	if err := n.claimMember(ctx, s); err != nil {
		closeSession()
		return err
	}
	n.mu.Lock()
	n.session = s
	n.mu.Unlock()
	n.kickStatus()
	defer func() {
		n.mu.Lock()
		n.session = nil
		n.mu.Unlock()
		closeSession()
	}()

	// Replay while campaigning.
	tctx, stopTail := context.WithCancel(ctx)
	tailer := walship.NewTailer(n.cfg.Client, n.cfg.Keys.WAL(), n.sm)
	n.mu.Lock()
	tailer.SetLastToken(n.lastToken)
	n.tailer = tailer
	n.mu.Unlock()
	tailDone := make(chan error, 1)
	go func() { tailDone <- tailer.Run(tctx) }()
	stopTailer := func() error {
		stopTail()
		err := <-tailDone
		return err
	}
	tailerStopped := false
	defer func() {
		if !tailerStopped {
			stopTailer()
		}
	}()

	val := cluster.LeaderValue{NodeID: n.cfg.NodeID, Address: n.cfg.Address, HTTPAddress: n.cfg.HTTPAddress}
	var lead *election.Leadership
	for {
		// Maintenance mode: no candidacy, so no automatic failover.
		if err := n.waitUnpaused(ctx); err != nil {
			return err
		}
		n.setRole(cluster.RoleCandidate, "campaigning")
		lead, err = n.campaign(ctx, s, val, tailDone)
		if errors.Is(err, errPausedCampaign) {
			continue
		}
		break
	}
	if err != nil {
		if rerr := tailer.Err(); rerr != nil {
			if errors.Is(rerr, walship.ErrTrimmed) {
				return fmt.Errorf("%w: %v", errNeedCheckpoint, rerr)
			}
			n.setReplayErr(rerr)
			return fmt.Errorf("%w: %v", ErrReplay, rerr)
		}
		return err
	}
	defer lead.Release()
	return n.serveAsLeader(ctx, lead, tailer, func() error { tailerStopped = true; return stopTailer() })
}

// errPausedCampaign: the campaign was withdrawn because the cluster paused.
var errPausedCampaign = errors.New("master: campaign withdrawn: paused")

// campaign runs one candidacy. It is withdrawn when replay fails (a broken
// log must not let this node win and stall the cluster) or when the
// cluster pauses.
func (n *Node) campaign(ctx context.Context, s *election.Session, val cluster.LeaderValue, tailDone chan error) (*election.Leadership, error) {
	cctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	pch := n.pauseChanged()
	if n.Paused() {
		return nil, errPausedCampaign
	}
	go func() {
		select {
		case err := <-tailDone:
			tailDone <- err
			if err != nil {
				stop(err)
			}
		case <-pch:
			if n.Paused() {
				stop(errPausedCampaign)
			}
		case <-cctx.Done():
		}
	}()
	l, err := election.Campaign(cctx, s, n.cfg.Keys.Election(), val.Encode())
	if err != nil && errors.Is(context.Cause(cctx), errPausedCampaign) && ctx.Err() == nil {
		return nil, errPausedCampaign
	}
	return l, err
}

func (n *Node) setReplayErr(err error) {
	n.mu.Lock()
	n.replayErr = err
	n.mu.Unlock()
	n.kickStatus()
}

// serveAsLeader runs the promotion gate and then serves until leadership ends.
func (n *Node) serveAsLeader(ctx context.Context, l *election.Leadership, tailer *walship.Tailer, stopTailer func() error) error {
	won := time.Now()
	lctx := l.Context()
	if to, ok := n.yieldsToSwitchover(lctx); ok {
		n.log.Info("won the election during a switchover to another member; stepping aside", "to", to)
		l.Resign(context.WithoutCancel(ctx))
		return nil
	}
	n.setRole(cluster.RoleCatchingUp, fmt.Sprintf("won election with token %d", l.Token()))
	appliedAtWin := n.state.AppliedIndex()

	// Replay stops; what is left is read directly, not waited for.
	if err := stopTailer(); err != nil {
		if errors.Is(err, walship.ErrTrimmed) {
			l.Resign(context.WithoutCancel(ctx))
			return fmt.Errorf("%w: %v", errNeedCheckpoint, err)
		}
		n.setReplayErr(err)
		l.Resign(context.WithoutCancel(ctx))
		return fmt.Errorf("%w: %v", ErrReplay, err)
	}
	// Gate, part 2: the last fenced index, read AFTER winning (in the same
	// transaction as the records after the applied index). Nobody else can
	// move it now: every older leader's key is gone.
	head, err := tailer.CatchUp(lctx)
	if err != nil {
		l.Resign(context.WithoutCancel(ctx))
		if errors.Is(err, walship.ErrTrimmed) {
			return fmt.Errorf("%w: %v", errNeedCheckpoint, err)
		}
		if walship.IsBroken(err) {
			n.setReplayErr(err)
			return fmt.Errorf("%w: %v", ErrReplay, err)
		}
		return fmt.Errorf("catching up after winning: %w", err)
	}
	if got := n.state.AppliedIndex(); got != head {
		l.Resign(context.WithoutCancel(ctx))
		return fmt.Errorf("applied %d but the log head is %d after winning; refusing to serve", got, head)
	}
	caughtUp := time.Now()

	n.mu.Lock()
	prevToken := n.lastToken
	n.mu.Unlock()
	app, err := walship.NewAppender(lctx, walship.AppenderConfig{
		Client:        n.cfg.Client,
		Keys:          n.cfg.Keys.WAL(),
		LeaderKey:     l.Key(),
		Token:         l.Token(),
		Head:          head,
		SM:            n.sm,
		MaxBatchBytes: n.cfg.MaxBatchBytes,
		CommitTimeout: n.cfg.CommitTimeout,
		MaxQueueBytes: n.cfg.MaxQueueBytes,
		QueueWait:     n.cfg.QueueWait,
		Observe:       n.observeBatch,
	})
	if err != nil {
		l.Resign(context.WithoutCancel(ctx))
		return err
	}
	defer app.Wait()
	// The first write: a no-op under the new token. Once it commits, this
	// node's fence is the one etcd enforces.
	if _, err := app.Append(lctx, meta.Op{Type: meta.OpNoop}.Marshal()); err != nil {
		l.Release()
		return fmt.Errorf("first write as primary: %w", err)
	}
	serving := time.Now()
	p := cluster.Promotion{
		Token:           int64(l.Token()),
		PreviousToken:   int64(prevToken),
		ReplayedEntries: head - appliedAtWin,
		CatchUpMs:       cluster.Ms(caughtUp.Sub(won)),
		FirstWriteMs:    cluster.Ms(serving.Sub(caughtUp)),
		WonUnixNano:     won.UnixNano(),
		ServingUnixNano: serving.UnixNano(),
	}
	n.mu.Lock()
	n.lead, n.appender, n.promotion = l, app, &p
	close(n.promoted)
	n.promoted = make(chan struct{})
	n.mu.Unlock()
	n.setRole(cluster.RolePrimary, fmt.Sprintf("caught up to %d and wrote under token %d", head, l.Token()))
	if n.cfg.Metrics != nil {
		n.cfg.Metrics.Promoted(p)
	}
	n.writeHistory(lctx, l, p)

	select {
	case <-lctx.Done():
	case <-app.Done():
	case <-ctx.Done():
	}
	if ctx.Err() != nil && lctx.Err() == nil {
		// A graceful stop: say so, for the next primary's history.
		n.handover(context.WithoutCancel(ctx), "shutdown", l.Token())
	}
	n.mu.Lock()
	n.lead, n.appender, n.draining = nil, nil, ""
	n.mu.Unlock()
	why := "shutting down"
	if err := app.Err(); err != nil {
		why = err.Error()
	} else if c := context.Cause(lctx); c != nil {
		why = c.Error()
	}
	n.setRole(cluster.RoleStandby, "deposed: "+why)
	l.Release()
	app.Wait()
	return nil
}

func (n *Node) observeBatch(records, bytes int, took time.Duration) {
	if n.cfg.Metrics != nil {
		n.cfg.Metrics.BatchCommitted(records, bytes, took)
	}
}

// writeHistory records this leadership change in etcd under the fence.
// Phases: detect is the cause's own measure (a crash detector's, on its
// monotonic clock; 0 for an operator's revoke, a switchover, a shutdown or
// a restart; unknown for a lease that ran out); elect runs from the cause's
// action (its marker's time) to winning; total from the cause's action,
// plus detect, to serving. Times across hosts use wall clocks: display
// figures, never safety ones.
func (n *Node) writeHistory(ctx context.Context, l *election.Leadership, p cluster.Promotion) {
	reason, h := n.historyReason(ctx, p)
	rec := cluster.HistoryRecord{
		Time: time.Now().UTC(), NewPrimary: n.cfg.NodeID, Token: p.Token, PreviousToken: p.PreviousToken,
		Reason: reason, Phases: cluster.Phases{CatchUpMs: p.CatchUpMs, FirstWriteMs: p.FirstWriteMs},
	}
	if h != nil {
		elect := cluster.Ms(time.Unix(0, p.WonUnixNano).Sub(h.At))
		if elect >= 0 {
			detect := 0.0
			if h.DetectMs != nil {
				detect = *h.DetectMs
			}
			total := detect + cluster.Ms(time.Unix(0, p.ServingUnixNano).Sub(h.At))
			rec.Phases.DetectMs, rec.Phases.ElectMs, rec.Phases.TotalMs = &detect, &elect, &total
		}
	}
	b, _ := json.Marshal(rec)
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := n.cfg.Client.Txn(hctx).If(fencing.Guard(l.Key(), l.Token())).
		Then(clientv3.OpPut(n.cfg.Keys.HistoryEntry(p.Token), string(b))).Commit()
	if err != nil {
		n.log.Warn("could not record leadership change in history", "err", err)
	}
}

// observeLeader keeps n.leader current.
func (n *Node) observeLeader(ctx context.Context) {
	for l := range election.Observe(ctx, n.cfg.Client, n.cfg.Keys.Election()) {
		v := cluster.LeaderValue{}
		if l.Key != "" {
			if dv, err := cluster.DecodeLeaderValue(l.Value); err == nil {
				v = dv
			}
		}
		n.mu.Lock()
		n.leader = v
		n.mu.Unlock()
	}
}

func (n *Node) notPrimary() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := &NotPrimaryError{Reason: n.role}
	if n.draining != "" {
		e.Reason = "switching over to " + n.draining
	}
	if n.leader.NodeID != "" && n.leader.NodeID != n.cfg.NodeID {
		e.NodeID, e.Address = n.leader.NodeID, n.leader.Address
	}
	return e
}

// Propose validates op, logs it under the fence and applies it. It returns
// the state machine's result (whose Err reports a rejected op) or an error:
// ErrNotPrimary (not applied), ErrUnknownOutcome (maybe applied).
func (n *Node) Propose(ctx context.Context, op meta.Op) (meta.Result, error) {
	n.mu.Lock()
	app, draining := n.appender, n.draining
	if app != nil && draining == "" {
		n.inflight.Add(1)
	}
	n.mu.Unlock()
	if app == nil || draining != "" {
		return meta.Result{}, n.notPrimary()
	}
	defer n.inflight.Done()
	if op.ClientID != "" || op.Session != 0 {
		if r, ok := n.state.Replay(op); ok {
			return r, nil
		}
	}
	if err := n.state.Check(op); err != nil {
		return meta.Result{Err: err}, nil
	}
	r, err := app.Append(ctx, op.Marshal())
	switch {
	case err == nil:
		return r.Value.(meta.Result), nil
	case errors.Is(err, walship.ErrUnknownOutcome):
		return meta.Result{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	case errors.Is(err, walship.ErrTooLarge):
		return meta.Result{Err: err}, nil
	case errors.Is(err, walship.ErrBusy):
		return meta.Result{}, fmt.Errorf("%w: %v", ErrOverloaded, err)
	case errors.Is(err, walship.ErrAbandoned):
		return meta.Result{}, err // wraps the caller's context error; not applied
	default:
		return meta.Result{}, n.notPrimary()
	}
}

// QueuedBytes is the size of the primary's append queue (0 on a standby);
// the appender bounds it (walship.AppenderConfig.MaxQueueBytes).
func (n *Node) QueuedBytes() int {
	n.mu.Lock()
	app := n.appender
	n.mu.Unlock()
	if app == nil {
		return 0
	}
	return app.QueuedBytes()
}

// RegisterSession logs a new client session and returns its id (see
// meta.OpRegisterSession). Errors are those of Propose.
func (n *Node) RegisterSession(ctx context.Context) (uint64, error) {
	r, err := n.Propose(ctx, meta.Op{Type: meta.OpRegisterSession})
	if err == nil {
		err = r.Err
	}
	return r.Session, err
}

// Leader returns the primary as last observed (empty when none).
func (n *Node) Leader() cluster.LeaderValue {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leader
}

// CaughtUp reports whether this node is a standby with no replay lag.
func (n *Node) CaughtUp() bool {
	st := n.Status()
	return st.Role != cluster.RolePrimary && st.ReplayError == "" && st.LagEntries == 0 && n.hasSession()
}

func (n *Node) hasSession() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.session != nil
}

// Status is this member's entry of `ctl status`.
func (n *Node) Status() cluster.MemberStatus {
	n.mu.Lock()
	st := cluster.MemberStatus{
		NodeID:      n.cfg.NodeID,
		Role:        n.role,
		Address:     n.cfg.Address,
		HTTPAddress: n.cfg.HTTPAddress,
	}
	if st.Role == cluster.RoleCandidate {
		st.Role = cluster.RoleStandby // the contract's roles: primary, standby, catching-up
	}
	if n.session != nil {
		st.LeaseID = n.session.LeaseIDHex()
	}
	if n.lead != nil {
		st.Token = int64(n.lead.Token())
	}
	if n.promotion != nil {
		p := *n.promotion
		st.LastPromotion = &p
	}
	if n.replayErr != nil {
		st.ReplayError = n.replayErr.Error()
	}
	tailer, app := n.tailer, n.appender
	n.mu.Unlock()
	st.AppliedIndex = n.state.AppliedIndex()
	// Only checkpoints replay can start from: one below the log's first
	// index - 1 would hold trimming back for nothing.
	if ck := n.ckptIndex.Load(); ck+1 >= n.logFirst.Load() {
		st.CheckpointIndex = ck
	}
	st.OldestCheckpointIndex = n.ckptOldest.Load()
	st.LastFencedIndex = st.AppliedIndex
	if app == nil && tailer != nil {
		ts := tailer.Status()
		st.LagEntries = ts.LagEntries
		st.LagMs = cluster.Ms(ts.Lag)
		st.LastFencedIndex = max(ts.Head, st.AppliedIndex)
	}
	return st
}
