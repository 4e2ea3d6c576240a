package chunkmaster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/fencing"
	"github.com/gfsha/master/internal/meta"
)

// Node is what the manager needs of the master it runs in (node.Node).
// Propose and Read may be called from any goroutine.
type Node interface {
	ID() string
	// Propose logs op under the fence and applies it.
	Propose(ctx context.Context, op meta.Op) (meta.Result, error)
	// Read runs fn against the state only while the node is a valid primary.
	Read(fn func(*meta.State) error) error
	// State is the state machine, for the background scan.
	State() *meta.State
	// Serving reports whether the node's lease as primary certainly holds
	// now; ServingUntil is until when (the zero time when it does not).
	Serving() bool
	ServingUntil() time.Time
	// Promoted is closed the next time the node starts serving.
	Promoted() <-chan struct{}
	// Status carries the token while the node leads, and its last promotion.
	Status() cluster.MemberStatus
	// Leader is the election's holder as last observed.
	Leader() cluster.LeaderValue
}

// Manager runs the master's side of the data path while its node serves:
// one term per leadership, started when the node is promoted and ended when
// its token goes away. Nothing of a term outlives it: the location map, the
// leases it knows and its background work are rebuilt by the next one (its
// locations seeded from the advisory table of reports, shadow.go).
type Manager struct {
	n   Node
	cfg Config
	log *slog.Logger

	mu     sync.Mutex // guards term, termCh, conns, closed and reports
	term   *term
	termCh chan struct{} // closed and replaced when a term starts
	conns  map[string]*grpc.ClientConn
	closed bool
	// reports is the advisory location table: every chunkserver's last
	// report to this member, whatever its role (shadow.go).
	reports map[string]*reported
}

// New makes a manager for n; Run drives it.
func New(n Node, cfg Config) *Manager {
	cfg = cfg.withDefaults()
	return &Manager{n: n, cfg: cfg, log: cfg.Logger.With("node", n.ID(), "part", "chunkmaster"),
		termCh: make(chan struct{}), conns: map[string]*grpc.ClientConn{}}
}

// Config is the manager's configuration, defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// Run follows the node's leadership until ctx ends, running a term each
// time the node serves. It closes the manager's connections on return.
func (m *Manager) Run(ctx context.Context) {
	defer m.closeConns()
	for ctx.Err() == nil {
		promoted := m.n.Promoted()
		if tok := m.n.Status().Token; tok != 0 && m.n.Serving() {
			m.runTerm(ctx, fencing.Token(tok))
			continue
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-promoted:
		case <-t.C: // the node may have been serving already when Run began
		}
		t.Stop()
	}
}

// runTerm serves as primary under token until the node no longer holds it.
func (m *Manager) runTerm(ctx context.Context, token fencing.Token) {
	tctx, cancel := context.WithCancel(ctx)
	t := newTerm(m, tctx, token)
	seeded := m.seed(t, m.n.State().AppliedIndex())
	m.mu.Lock()
	m.term = t
	close(m.termCh)
	m.termCh = make(chan struct{})
	m.mu.Unlock()
	m.log.Info("chunk management active", "token", token, "chunkservers_known", seeded, "grants_after", t.graceUntil.Sub(t.start).Round(time.Millisecond))

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); t.background() }()
	tick := time.NewTicker(20 * time.Millisecond)
	for ctx.Err() == nil && fencing.Token(m.n.Status().Token) == token {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	m.mu.Lock()
	m.term = nil
	m.mu.Unlock()
	cancel()
	wg.Wait()
	t.wait()
	m.log.Info("chunk management stopped", "token", token)
}

// activeTerm returns the serving term. While this node has won the
// election but does not serve yet, it waits up to wait for the term to
// start (so that chunkservers re-attach the moment it serves).
func (m *Manager) activeTerm(ctx context.Context, wait time.Duration) (*term, error) {
	var timer <-chan time.Time
	for {
		m.mu.Lock()
		t, ch := m.term, m.termCh
		m.mu.Unlock()
		if t != nil && m.n.Serving() {
			return t, nil
		}
		if wait <= 0 || m.n.Leader().NodeID != m.n.ID() {
			return nil, m.notPrimary()
		}
		if timer == nil {
			tm := time.NewTimer(wait)
			defer tm.Stop()
			timer = tm.C
		}
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-timer:
			return nil, m.notPrimary()
		case <-ch:
		case <-time.After(10 * time.Millisecond): // Serving may lag the term by a tick
		}
	}
}

// notPrimary is the node's own "not primary" error, as a gRPC status.
func (m *Manager) notPrimary() error {
	err := m.n.Read(func(*meta.State) error { return nil })
	if err == nil {
		err = errors.New("master: chunk management is starting; retry shortly")
	}
	return status.Error(codes.Unavailable, err.Error())
}

// conn returns a cached connection to a chunkserver.
func (m *Manager) conn(addr string) (*grpc.ClientConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("chunkmaster: closed")
	}
	if cc := m.conns[addr]; cc != nil {
		return cc, nil
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, m.cfg.DialOptions...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial chunkserver %s: %w", addr, err)
	}
	m.conns[addr] = cc
	return cc, nil
}

func (m *Manager) closeConns() {
	m.mu.Lock()
	conns := m.conns
	m.conns = map[string]*grpc.ClientConn{}
	m.closed = true
	m.mu.Unlock()
	for _, cc := range conns {
		cc.Close()
	}
}

// Snapshot describes the current term for tests and status: nil when the
// node does not serve.
func (m *Manager) Snapshot() *TermSnapshot {
	m.mu.Lock()
	t := m.term
	m.mu.Unlock()
	if t == nil {
		return nil
	}
	return t.snapshot()
}
