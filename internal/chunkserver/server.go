package chunkserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/fencing"
)

// Config configures a chunkserver.
type Config struct {
	ID     string // unique among the cluster's chunkservers
	Dir    string // replicas, the token guard, LOCK and ID live here
	Listen string // gRPC address (host:port; port 0 picks a free one)
	// Etcd finds the primary (watched, never polled); not closed by Close.
	Etcd    *clientv3.Client
	Cluster string // the master group ("default" if empty)
	// HeartbeatInterval is the time between heartbeats (default 500 ms).
	HeartbeatInterval time.Duration
	Logger            *slog.Logger
	Store             StoreOptions
	// DialOptions are added to connections to masters and chunkservers
	// (TLS: tlsconfig.ClientDialOption).
	DialOptions []grpc.DialOption
	// ServerOptions configure the gRPC server (TLS: tlsconfig.ServerOptions).
	ServerOptions []grpc.ServerOption
}

// Server is one running chunkserver.
type Server struct {
	cfg     Config
	log     *slog.Logger
	lock    *dirLock
	highest *fencing.Highest
	store   *Store
	grpc    *grpc.Server
	addr    string
	keys    cluster.Keys

	kick chan struct{} // asks the heartbeat loop for a heartbeat now

	mu      sync.Mutex // guards the fields below
	leases  map[uint64]*lease
	writing map[uint64]*sync.Mutex // per-chunk write order on this chunkserver
	conns   map[string]*grpc.ClientConn
	master  string // node id of the primary heartbeated to, once registered
	// leaderID is the node id of the election's holder as last watched:
	// it gets heartbeats, every other member reports (report.go).
	leaderID string
	paused   bool // tests: heartbeats suspended
	closed   bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// lease is a chunk lease this chunkserver holds as the primary replica.
type lease struct {
	version     uint64
	token       fencing.Token
	expires     time.Time // monotonic
	secondaries []string
}

// Start locks cfg.Dir, opens the store and the token guard, listens and
// starts following the primary.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.ID == "" {
		return nil, errors.New("chunkserver: --id is empty; give each chunkserver a unique id such as cs1")
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("chunkserver %s: --dir is empty; give it a directory of its own", cfg.ID)
	}
	if cfg.Etcd == nil {
		return nil, fmt.Errorf("chunkserver %s: no etcd client", cfg.ID)
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("chunkserver", cfg.ID),
		keys:    cluster.ForCluster(cfg.Cluster),
		kick:    make(chan struct{}, 1),
		leases:  map[uint64]*lease{},
		writing: map[uint64]*sync.Mutex{},
		conns:   map[string]*grpc.ClientConn{},
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	var err error
	if s.lock, err = lockDir(cfg.Dir, cfg.ID); err != nil {
		return nil, err
	}
	if s.highest, err = fencing.OpenHighest(filepath.Join(cfg.Dir, "TOKEN")); err != nil {
		return nil, fmt.Errorf("chunkserver %s: %w", cfg.ID, err)
	}
	if s.store, err = OpenStore(cfg.Dir, cfg.Store); err != nil {
		return nil, fmt.Errorf("chunkserver %s: %w", cfg.ID, err)
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("chunkserver %s: --listen %s: %w", cfg.ID, cfg.Listen, err)
	}
	s.addr = l.Addr().String()
	s.grpc = grpc.NewServer(cfg.ServerOptions...)
	chunkpb.RegisterChunkserverServer(s.grpc, &service{s: s})
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.grpc.Serve(l) }()
	go func() { defer s.wg.Done(); s.follow(rctx) }()
	go func() { defer s.wg.Done(); s.reportToMembers(rctx) }()
	s.log.Info("chunkserver started", "address", s.addr, "dir", cfg.Dir, "chunks", len(s.store.List()), "token", s.highest.Current())
	ok = true
	return s, nil
}

// ID is the chunkserver's id.
func (s *Server) ID() string { return s.cfg.ID }

// Addr is where the chunkserver's gRPC service listens.
func (s *Server) Addr() string { return s.addr }

// Token is the newest fencing token this chunkserver obeys.
func (s *Server) Token() fencing.Token { return s.highest.Current() }

// Store is the chunkserver's replica store.
func (s *Server) Store() *Store { return s.store }

// Master is the node id of the primary this chunkserver is registered with
// ("" before the first registration).
func (s *Server) Master() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master
}

// HasLease reports whether this chunkserver holds a live lease on chunk h.
func (s *Server) HasLease(h uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[h]
	return l != nil && time.Now().Before(l.expires)
}

// PauseHeartbeats suspends (or resumes) heartbeats, as a partition from
// the master would: for tests.
func (s *Server) PauseHeartbeats(paused bool) {
	s.mu.Lock()
	s.paused = paused
	s.mu.Unlock()
	s.kickHeartbeat()
}

// Close stops serving and following, and releases the directory. It is
// safe to call twice.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := s.conns
	s.conns = map[string]*grpc.ClientConn{}
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	if s.grpc != nil {
		s.grpc.Stop()
	}
	s.wg.Wait()
	for _, cc := range conns {
		cc.Close()
	}
	s.lock.release()
}

func (s *Server) kickHeartbeat() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// conn returns a cached connection to addr (a master or a chunkserver).
func (s *Server) conn(addr string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "chunkserver closing")
	}
	if cc := s.conns[addr]; cc != nil {
		return cc, nil
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, s.cfg.DialOptions...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	s.conns[addr] = cc
	return cc, nil
}

// admit lets a command carrying token t through, or refuses it: a token
// older than the newest one seen (persisted, so across restarts too) is
// refused with PERMISSION_DENIED naming both tokens.
func (s *Server) admit(t int64, what string) error {
	err := s.highest.Observe(fencing.Token(t))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fencing.ErrStaleToken):
		s.log.Warn("refused a command from an older primary", "command", what, "err", err)
		return status.Errorf(codes.PermissionDenied, "chunkserver %s refuses %s: %v", s.cfg.ID, what, err)
	case errors.Is(err, fencing.ErrNoToken):
		return status.Errorf(codes.InvalidArgument, "chunkserver %s refuses %s: %v; every command must carry the master's token", s.cfg.ID, what, err)
	}
	return status.Errorf(codes.Internal, "chunkserver %s: %s: persist token %d: %v", s.cfg.ID, what, t, err)
}

// admitInTime is admit for a command that must take effect before its
// deadline: the master sets it to the end of its own lease, so a command
// that arrives, or is admitted, after it is refused with DEADLINE_EXCEEDED.
func (s *Server) admitInTime(ctx context.Context, t int64, what string) error {
	if err := ctx.Err(); err != nil {
		return s.late(what, err)
	}
	if err := s.admit(t, what); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return s.late(what, err)
	}
	return nil
}

// late refuses a command whose deadline passed before it took effect.
func (s *Server) late(what string, err error) error {
	s.log.Warn("refused a command that arrived after its deadline (the end of its master's lease)", "command", what, "err", err)
	return status.Errorf(codes.DeadlineExceeded, "chunkserver %s refuses %s: its deadline, the end of the sending master's lease, passed before it took effect", s.cfg.ID, what)
}

// chunkMutex is the mutex that orders writes to chunk h on this chunkserver.
func (s *Server) chunkMutex(h uint64) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.writing[h]
	if m == nil {
		m = &sync.Mutex{}
		s.writing[h] = m
	}
	return m
}

// leaseFor returns the live lease on h at version, or an error.
func (s *Server) leaseFor(h, version uint64) (lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[h]
	switch {
	case l == nil:
		return lease{}, fmt.Errorf("chunkserver %s holds no lease on chunk %d; ask the master for the lease again: %w", s.cfg.ID, h, ErrNoLease)
	case !time.Now().Before(l.expires):
		return lease{}, fmt.Errorf("chunkserver %s: its lease on chunk %d expired; ask the master for the lease again: %w", s.cfg.ID, h, ErrNoLease)
	case l.version != version:
		return lease{}, fmt.Errorf("chunkserver %s: its lease on chunk %d is for version %d, not %d; ask the master again: %w", s.cfg.ID, h, l.version, version, ErrNoLease)
	}
	return *l, nil
}

// liveLeases lists the leases held, for a full heartbeat.
func (s *Server) liveLeases() []*chunkpb.LeaseInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var out []*chunkpb.LeaseInfo
	for h, l := range s.leases {
		left := l.expires.Sub(now)
		if left <= 0 {
			delete(s.leases, h)
			continue
		}
		out = append(out, &chunkpb.LeaseInfo{Handle: h, Version: l.version, Token: int64(l.token),
			RemainingMs: left.Milliseconds() + 1, Secondaries: l.secondaries})
	}
	return out
}

// statusOf maps a store error to a gRPC status that keeps its message.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrExists):
		code = codes.AlreadyExists
	case errors.Is(err, ErrVersion), errors.Is(err, ErrNoLease):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrCorrupt):
		code = codes.DataLoss
	case errors.Is(err, ErrNoSpace):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrBadWrite):
		code = codes.InvalidArgument
	case errors.Is(err, fencing.ErrStaleToken):
		code = codes.PermissionDenied
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}
