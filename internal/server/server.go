package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/hooks"
	"github.com/gfsha/master/internal/httpapi"
	"github.com/gfsha/master/internal/incarnation"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
	"github.com/gfsha/master/internal/rpcserver"
	"github.com/gfsha/master/internal/statuspage"
	"github.com/gfsha/master/internal/tlsconfig"
)

// Options configure a Server.
type Options struct {
	Config config.Config
	Logger *slog.Logger
	// Etcd, if set, is used instead of dialing Config.Etcd (not closed).
	Etcd *clientv3.Client
	// Chunk tunes the data path: its non-zero fields override Config's
	// chunk.* keys (tests use it); zero fields take the keys' values.
	Chunk chunkmaster.Config
}

// Server is one running master.
type Server struct {
	Node    *node.Node
	Metrics *httpapi.Metrics
	Chunks  *chunkmaster.Manager // the data path's master side, active while Node serves

	log     *slog.Logger
	embed   *embedetcd.Server
	etcd    *clientv3.Client
	ownEtcd bool
	grpc    *grpc.Server
	http    *http.Server
	rpcAddr string
	webAddr string
	// rpcDial is how this master dials other masters and chunkservers:
	// TLS as tls.* say, or plaintext.
	rpcDial grpc.DialOption

	inc     *incarnation.Dir // the locked data dir
	runDone chan struct{}    // closed when the node stops on its own or is stopped

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // guards runErr and closed
	runErr error
	closed bool
}

// Start listens on the configured addresses and starts the node. It fails
// at once on a bad address, a port in use or an unusable TLS file (tls.*,
// etcd.tls.*); an unreachable etcd is not an error (the node keeps retrying
// and logs it). With etcd.username set, etcd's client must authenticate
// before the node can exist, so Start first waits, retrying and logging
// each failure (DialRetrying), until etcd is reachable and accepts the
// credentials, or ctx ends.
//
// The RPC listener serves TLS when tls.cert is set (requiring client
// certificates when tls.client_ca is), and the master dials its peers
// (checkpoint fetch) and chunkservers as tls.* say.
func Start(ctx context.Context, o Options) (*Server, error) {
	cfg := o.Config
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log.With("node", cfg.NodeID), runDone: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	// First the data dir lock: a second process on the same dir stops
	// here, before it touches etcd or a port.
	if cfg.DataDir != "" {
		inc, err := incarnation.Lock(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		s.inc = inc
	}
	// The TLS files are read first: a bad one is a configuration error.
	serverOpts, err := tlsconfig.ServerOptions(cfg.TLS)
	if err != nil {
		return nil, err
	}
	if s.rpcDial, err = tlsconfig.ClientDialOption(cfg.TLS); err != nil {
		return nil, err
	}
	httpTLS, err := tlsconfig.HTTPServer(cfg.HTTPTLS, cfg.TLS)
	if err != nil {
		return nil, err
	}

	if o.Etcd != nil {
		s.etcd = o.Etcd
	} else {
		if cfg.Etcd.Embed {
			dir := filepath.Join(cfg.DataDir, "etcd")
			e, err := embedetcd.Start(ctx, embedetcd.Options{Dir: dir, ClientAddr: cfg.Etcd.Endpoints[0]})
			if err != nil {
				return nil, fmt.Errorf("etcd.embed: %w", err)
			}
			s.embed = e
			s.log.Info("embedded etcd serving", "endpoint", e.Endpoint(), "dir", dir)
		}
		c, err := DialRetrying(ctx, cfg, s.log)
		if err != nil {
			return nil, err
		}
		s.etcd, s.ownEtcd = c, true
	}

	rl, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		rl.Close()
		return nil, fmt.Errorf("http_listen: %w", err)
	}
	s.rpcAddr, s.webAddr = rl.Addr().String(), hl.Addr().String()
	if httpTLS != nil {
		hl = tls.NewListener(hl, httpTLS)
	}

	var n *node.Node
	hook := hooks.New(cfg.Hooks.OnRoleChange, cfg.Hooks.Timeout, cfg.NodeID, cfg.Cluster, log.With("node", cfg.NodeID))
	s.Metrics = httpapi.NewMetrics(func() cluster.MemberStatus { return n.Status() })
	n = node.New(node.Config{
		Client:        s.etcd,
		Keys:          cluster.ForCluster(cfg.Cluster),
		NodeID:        cfg.NodeID,
		Address:       s.rpcAddr,
		HTTPAddress:   s.webAddr,
		LeaseTTL:      cfg.Election.LeaseTTL,
		MaxBatchBytes: cfg.WAL.MaxBatchBytes,
		CommitTimeout: cfg.WAL.CommitTimeout,
		Logger:        log,
		Metrics:       s.Metrics,

		DataDir:            cfg.DataDir,
		CheckpointEntries:  uint64(cfg.Checkpoint.Entries),
		CheckpointInterval: cfg.Checkpoint.Interval,
		KeepCheckpoints:    cfg.Checkpoint.Keep,
		TrimInterval:       cfg.WAL.TrimInterval,
		Compact:            cfg.Etcd.Compact,
		Fetch:              rpcserver.FetchFrom(s.rpcDial),
		Incarnation:        s.inc,
		CrashDetect:        cfg.Election.CrashDetect,
		Tags:               cluster.Tags{NoFailover: cfg.Tags.NoFailover, FailoverPriority: cfg.Tags.FailoverPriority},
		OnRoleChange:       hook.RoleChanged,
	})
	s.Node = n
	// Stream workers, one per CPU, serve calls on goroutines whose stacks
	// have already grown, instead of a fresh goroutine per call whose stack
	// grows (and is copied) on every call: at one client that copying was a
	// visible share of a call's CPU (docs/performance.md). When every worker
	// is busy gRPC starts a goroutine as before.
	serverOpts = append(serverOpts, grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))
	s.grpc = grpc.NewServer(serverOpts...)
	rpcserver.Register(s.grpc, n)
	if err := s.startChunks(o, log); err != nil {
		rl.Close()
		hl.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", statuspage.Handler(statuspage.Source{Etcd: s.etcd, Cluster: cfg.Cluster, Self: cfg.NodeID,
		Chunkservers: s.chunkserverRows}))
	mux.Handle("/", httpapi.Handler(n, s.Metrics.Registry))
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		defer close(s.runDone)
		if err := n.Run(rctx); err != nil && !errors.Is(err, context.Canceled) {
			s.setErr(err)
		}
	}()
	go func() { defer s.wg.Done(); s.grpc.Serve(rl) }()
	go func() { defer s.wg.Done(); s.http.Serve(hl) }()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.Chunks.Run(rctx) }()
	go func() { defer s.wg.Done(); hook.Run(rctx) }()
	s.log.Info("master started", "rpc", s.rpcAddr, "rpc_tls", rpcTLSMode(cfg.TLS), "http", s.webAddr, "cluster", cfg.Cluster)
	ok = true
	return s, nil
}

// chunkserverRows is the status page's chunkserver table, on the primary.
func (s *Server) chunkserverRows() ([]statuspage.Chunkserver, bool) {
	if !s.Node.Serving() {
		return nil, false
	}
	snap := s.Chunks.Snapshot()
	if snap == nil {
		return nil, false
	}
	out := make([]statuspage.Chunkserver, 0, len(snap.Chunkservers))
	for _, c := range snap.Chunkservers {
		out = append(out, statuspage.Chunkserver{ID: c.ID, Address: c.Address, Token: int64(c.Token),
			LastHeartbeatMs: cluster.Ms(c.LastHeartbeat), Chunks: c.Chunks})
	}
	return out, true
}

// startChunks makes the data path's manager and registers its service.
func (s *Server) startChunks(o Options, log *slog.Logger) error {
	// Config (flag > env > file > default) for the keyed settings; the
	// environment for the rest (MASTER_CHUNK_SCAN_INTERVAL); then whatever
	// Options.Chunk sets explicitly.
	cc, err := chunkmaster.Config{}.WithEnv()
	if err != nil {
		return err
	}
	cfg := o.Config.Chunk
	cc.Replication, cc.ChunkSize, cc.LeaseDuration, cc.DeadAfter = cfg.Replication, cfg.Size, cfg.Lease, cfg.DeadAfter
	x := o.Chunk
	if x.Replication != 0 {
		cc.Replication = x.Replication
	}
	if x.ChunkSize != 0 {
		cc.ChunkSize = x.ChunkSize
	}
	if x.LeaseDuration != 0 {
		cc.LeaseDuration = x.LeaseDuration
	}
	if x.DeadAfter != 0 {
		cc.DeadAfter = x.DeadAfter
	}
	if x.ScanInterval != 0 {
		cc.ScanInterval = x.ScanInterval
	}
	if x.MaxCopies != 0 {
		cc.MaxCopies = x.MaxCopies
	}
	cc.DialOptions = x.DialOptions
	cc.Logger = log
	cc.DialOptions = append([]grpc.DialOption{s.rpcDial}, cc.DialOptions...)
	cc.ShadowRead = func(ctx context.Context, fn func(*meta.State) error) error { return rpcserver.Read(ctx, s.Node, fn) }
	s.Chunks = chunkmaster.New(s.Node, cc)
	s.Metrics.ChunkserversAttached(s.Chunks.Attached)
	s.Metrics.ReplicationHealth(s.Chunks.ReplicationHealth)
	chunkmaster.Register(s.grpc, s.Chunks)
	return nil
}

func (s *Server) setErr(err error) {
	s.mu.Lock()
	s.runErr = err
	s.mu.Unlock()
}

// Err is why the node stopped on its own, if it did.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runErr
}

// Done is closed when the node has stopped: on its own (Err says why, for
// instance a live twin with this node_id) or after Close.
func (s *Server) Done() <-chan struct{} { return s.runDone }

// RPCAddr is where the gRPC API listens.
func (s *Server) RPCAddr() string { return s.rpcAddr }

// HTTPAddr is where the HTTP endpoints listen.
func (s *Server) HTTPAddr() string { return s.webAddr }

// Etcd is the server's etcd client.
func (s *Server) Etcd() *clientv3.Client { return s.etcd }

// Close stops the node (revoking its session, so a standby takes over at
// once), the listeners and, if owned, etcd. It is safe to call twice.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	if s.grpc != nil {
		s.grpc.Stop()
	}
	if s.http != nil {
		s.http.Close()
	}
	s.wg.Wait()
	if s.ownEtcd {
		s.etcd.Close()
	}
	if s.embed != nil {
		s.embed.Close()
	}
	if s.inc != nil {
		s.inc.Close()
	}
}
