package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/meta"
)

// Sentinel errors.
var (
	ErrNotFound     = errors.New("client: not found")
	ErrExists       = errors.New("client: exists")
	ErrInvalid      = errors.New("client: invalid argument")
	ErrPrecondition = errors.New("client: failed precondition")
	ErrNoPrimary    = errors.New("client: no primary")
	ErrClosed       = errors.New("client: closed")
	// ErrUnknownResult: the mutation may or may not have been applied (its
	// call ended mid-attempt, or its session expired before a retry).
	ErrUnknownResult = errors.New("client: outcome unknown")
	// ErrOverloaded: the master stayed too busy to take the request.
	ErrOverloaded = errors.New("client: master overloaded")
)

// Config configures a Client.
type Config struct {
	// Etcd is an existing etcd client (not closed by Close). If nil, one is
	// made from Endpoints, DialTimeout and the Etcd* fields, and closed by
	// Close.
	Etcd        *clientv3.Client
	Endpoints   []string
	DialTimeout time.Duration
	// EtcdTLS secures the connection to etcd (nil: plaintext).
	EtcdTLS *tls.Config
	// EtcdUsername and EtcdPassword authenticate to etcd (empty: no
	// authentication). The password is never part of an error.
	EtcdUsername, EtcdPassword string
	// Cluster names the master group ("default" if empty).
	Cluster string
	// ClientID names this client (random if empty). Retries are made safe
	// by a session the client registers in the master's log, not by it.
	ClientID string
	// DefaultTimeout bounds a call whose context has no deadline (30 s).
	DefaultTimeout time.Duration
	// TLS secures the connections to masters and chunkservers: RootCAs
	// verify their certificates (nil: the system roots), Certificates is
	// presented to those that require a client certificate. Nil means
	// plaintext.
	TLS *tls.Config
	// DialOptions are added to every connection to a master or chunkserver,
	// after TLS, so transport credentials given here win.
	DialOptions []grpc.DialOption
}

// Entry describes a file or directory.
type Entry struct {
	Path   string  `json:"path,omitempty"`
	Name   string  `json:"name"`
	Dir    bool    `json:"dir"`
	Size   int64   `json:"size"`
	Chunks int     `json:"chunks"`
	Handle []Chunk `json:"-"`
}

// Chunk is one chunk of a file.
type Chunk struct {
	Handle  uint64
	Version uint64
}

// Client talks to the primary of one master group.
type Client struct {
	cfg     Config
	etcd    *clientv3.Client
	ownEtcd bool
	keys    cluster.Keys

	mu      sync.Mutex // guards the fields below
	leader  cluster.LeaderValue
	changed chan struct{} // closed when leader changes
	conns   map[string]*grpc.ClientConn
	lanes   []*lane
	nlanes  int
	closed  bool

	sessionID   uint64        // registered session (0: none yet); guarded by mu
	sessionSlot chan struct{} // one registration at a time
	laneSlots   chan struct{} // one token per busy lane

	batch *batcher

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type lane struct {
	id  string
	seq uint64
}

// New connects to etcd and starts following the primary.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if cfg.DefaultTimeout == 0 {
		cfg.DefaultTimeout = 30 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.ClientID == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.ClientID = "c-" + hex.EncodeToString(b[:])
	}
	if cfg.TLS != nil {
		tlsCreds := grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS))
		cfg.DialOptions = append([]grpc.DialOption{tlsCreds}, cfg.DialOptions...)
	}
	c := &Client{cfg: cfg, keys: cluster.ForCluster(cfg.Cluster), changed: make(chan struct{}), conns: map[string]*grpc.ClientConn{},
		sessionSlot: make(chan struct{}, 1), laneSlots: make(chan struct{}, maxLanes)}
	if cfg.Etcd != nil {
		c.etcd = cfg.Etcd
	} else {
		if len(cfg.Endpoints) == 0 {
			return nil, fmt.Errorf("client: no etcd endpoints; set Config.Endpoints or Config.Etcd: %w", ErrInvalid)
		}
		e, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout, Context: ctx, Logger: zap.NewNop(),
			TLS: cfg.EtcdTLS, Username: cfg.EtcdUsername, Password: cfg.EtcdPassword})
		if err != nil {
			return nil, fmt.Errorf("client: etcd %v: %w", cfg.Endpoints, err)
		}
		c.etcd, c.ownEtcd = e, true
	}
	octx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.batch = newBatcher(c)
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.batch.run(octx) }()
	obs := election.Observe(octx, c.etcd, c.keys.Election())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for l := range obs {
			v := cluster.LeaderValue{}
			if l.Key != "" {
				v, _ = cluster.DecodeLeaderValue(l.Value)
			}
			c.mu.Lock()
			if v != c.leader {
				c.leader = v
				close(c.changed)
				c.changed = make(chan struct{})
			}
			c.mu.Unlock()
		}
	}()
	return c, nil
}

// Close stops following the primary and closes connections. It is safe to
// call twice.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := c.conns
	c.conns = map[string]*grpc.ClientConn{}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	for _, cc := range conns {
		cc.Close()
	}
	if c.ownEtcd {
		return c.etcd.Close()
	}
	return nil
}

// Etcd is the client's etcd connection.
func (c *Client) Etcd() *clientv3.Client { return c.etcd }

// Cluster is the master group's name.
func (c *Client) Cluster() string { return c.cfg.Cluster }

// Primary is the primary as last seen in etcd (empty when none).
func (c *Client) Primary() cluster.LeaderValue {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// Conn returns a connection to a master at addr.
func (c *Client) Conn(addr string) (masterpb.MasterClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	cc, ok := c.conns[addr]
	if !ok {
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, c.cfg.DialOptions...)
		var err error
		cc, err = grpc.NewClient(addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", addr, err)
		}
		c.conns[addr] = cc
	}
	return masterpb.NewMasterClient(cc), nil
}

// redial lets a connection in gRPC's reconnect backoff (which grows past a
// second) try again at the client's own pace: a master restarted on the
// same address, or a new primary whose old connection broke, is then
// reached as soon as it listens.
func (c *Client) redial(addr string) {
	c.mu.Lock()
	cc := c.conns[addr]
	c.mu.Unlock()
	if cc != nil && cc.GetState() == connectivity.TransientFailure {
		cc.ResetConnectBackoff()
	}
}

// maxLanes bounds the client's concurrent mutations (each holds a lane);
// more wait for one. It stays below the master's per-session lane limit.
const maxLanes = 4096

// takeLane returns an idle lane, waiting while maxLanes are busy.
func (c *Client) takeLane(ctx context.Context) (*lane, error) {
	select {
	case c.laneSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.lanes); n > 0 {
		l := c.lanes[n-1]
		c.lanes = c.lanes[:n-1]
		return l, nil
	}
	c.nlanes++
	return &lane{id: strconv.Itoa(c.nlanes)}, nil
}

// putLane makes l idle again. A lane is reused even when its last call was
// abandoned mid-flight: that attempt then either ran before the lane's next
// op, or arrives after it and is refused as stale (a lower seq), never run.
func (c *Client) putLane(l *lane) {
	c.mu.Lock()
	c.lanes = append(c.lanes, l)
	c.mu.Unlock()
	<-c.laneSlots
}

// session returns the client's session, registering one in the log if it
// has none (one registration at a time; the others wait for it).
func (c *Client) session(ctx context.Context) (uint64, error) {
	select {
	case c.sessionSlot <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-c.sessionSlot }()
	c.mu.Lock()
	id := c.sessionID
	c.mu.Unlock()
	if id != 0 {
		return id, nil
	}
	// Registering twice is harmless (the spare session expires unused), so
	// an unknown outcome is retried like any idempotent call.
	err := c.call(ctx, true, func(ctx context.Context, m masterpb.MasterClient) error {
		r, err := m.RegisterSession(ctx, &masterpb.RegisterSessionRequest{})
		if err == nil {
			id = r.Session
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("register a client session: %w", err)
	}
	c.mu.Lock()
	c.sessionID = id
	c.mu.Unlock()
	return id, nil
}

// dropSession forgets session id after the master said it expired.
func (c *Client) dropSession(id uint64) {
	c.mu.Lock()
	if c.sessionID == id {
		c.sessionID = 0
	}
	c.mu.Unlock()
}

// call runs fn against the primary's master service (see onPrimary).
func (c *Client) call(ctx context.Context, retryUnknown bool, fn func(ctx context.Context, m masterpb.MasterClient) error) error {
	return c.onPrimary(ctx, retryUnknown, 10*time.Second, func(ctx context.Context, addr string) error {
		m, err := c.Conn(addr)
		if err != nil {
			return err
		}
		return fn(ctx, m)
	})
}

// onPrimary runs fn against the primary's address, each attempt bounded by
// attempt, retrying while the primary is unknown, changing or says "not
// primary" (Unavailable), and, with retryUnknown, on an unknown outcome
// (Aborted, DeadlineExceeded: for idempotent calls only), until ctx ends.
func (c *Client) onPrimary(ctx context.Context, retryUnknown bool, attempt time.Duration, fn func(ctx context.Context, addr string) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DefaultTimeout)
		defer cancel()
	}
	backoff := 10 * time.Millisecond
	var last error
	for {
		c.mu.Lock()
		leader, changed, closed := c.leader, c.changed, c.closed
		c.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if leader.Address != "" {
			actx, cancel := context.WithTimeout(ctx, attempt)
			err := fn(actx, leader.Address)
			cancel()
			if err == nil {
				return nil
			}
			code := status.Code(err)
			retry := code == codes.Unavailable || code == codes.ResourceExhausted ||
				(retryUnknown && (code == codes.Aborted || code == codes.DeadlineExceeded))
			if !retry || ctx.Err() != nil {
				if ctx.Err() != nil && last != nil {
					return fmt.Errorf("%w (last error: %v)", ctx.Err(), fromStatus(last))
				}
				return fromStatus(err)
			}
			last = err
			c.redial(leader.Address)
		} else {
			last = fmt.Errorf("no master holds the election in cluster %q: %w", c.cfg.Cluster, ErrNoPrimary)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), fromStatus(last))
		case <-changed:
			t.Stop()
			backoff = 10 * time.Millisecond
		case <-t.C:
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
}

func fromStatus(err error) error {
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	var sentinel error
	switch s.Code() {
	case codes.NotFound:
		sentinel = ErrNotFound
	case codes.AlreadyExists:
		sentinel = ErrExists
	case codes.InvalidArgument:
		sentinel = ErrInvalid
	case codes.FailedPrecondition:
		sentinel = ErrPrecondition
	case codes.Unavailable:
		sentinel = ErrNoPrimary
	case codes.Aborted, codes.DeadlineExceeded, codes.Unknown:
		sentinel = ErrUnknownResult
	case codes.ResourceExhausted:
		sentinel = ErrOverloaded
	default:
		return errors.New(s.Message())
	}
	return &Error{Msg: s.Message(), kind: sentinel}
}

// Error carries the master's message and a sentinel kind.
type Error struct {
	Msg   string
	kind  error
	cause error // also matched by errors.Is (a context error), or nil
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel, and the cause if there is one.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// checkNewPath refuses, before anything is sent, a name to be created that
// the master would refuse: not a clean absolute path, a control character
// or invalid UTF-8 (see meta.ValidateNewPath).
func checkNewPath(p string) error {
	if err := meta.ValidateNewPath(p); err != nil {
		return &Error{Msg: err.Error(), kind: ErrInvalid}
	}
	return nil
}

// checkPath refuses a path that is not valid UTF-8 before sending it (gRPC
// could not even encode it).
func checkPath(p string) error {
	if err := meta.ValidateUTF8(p); err != nil {
		return &Error{Msg: err.Error(), kind: ErrInvalid}
	}
	return nil
}

// mutate sends m through the batcher under the client's session, retrying
// with the same (session, lane, seq) until it succeeds, fails for good, or
// ctx ends. Once an attempt may have reached the master, an end without an
// answer is reported as ErrUnknownResult (and ctx's error): the mutation
// may or may not have been applied.
func (c *Client) mutate(ctx context.Context, m *masterpb.Mutation) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DefaultTimeout)
		defer cancel()
	}
	l, err := c.takeLane(ctx)
	if err != nil {
		return fmt.Errorf("%w (waiting for one of %d concurrent calls to finish)", err, maxLanes)
	}
	defer c.putLane(l)
	sid, err := c.session(ctx)
	if err != nil {
		return err
	}
	l.seq++
	m.Session, m.ClientId, m.Seq = sid, l.id, l.seq
	backoff := 10 * time.Millisecond
	uncertain := false // an attempt may have been applied
	var last error     // the previous attempt's, for the report when ctx ends
	for {
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		err, sent := c.batch.submit(ctx, m)
		if err == nil {
			return nil
		}
		code := status.Code(err)
		if code == codes.Unknown && !uncertain {
			// The session expired before this op's first attempt that can
			// have reached a master: it never ran. Go on under a new session.
			c.dropSession(m.Session)
			if sid, err = c.session(ctx); err != nil {
				return err
			}
			m.Session = sid
			continue
		}
		uncertain = uncertain || sent && code != codes.Unavailable && code != codes.ResourceExhausted
		if ctx.Err() != nil {
			if code == codes.DeadlineExceeded || code == codes.Canceled {
				// This attempt got no answer in time: report the one
				// before, or where the client was looking.
				err = last
				if err == nil {
					err = fmt.Errorf("no answer in time from a primary of cluster %q (primary last seen: %q)", c.cfg.Cluster, c.Primary().NodeID)
				}
			}
			return c.ended(ctx, uncertain, err)
		}
		if code == codes.Unknown {
			return fromStatus(err)
		}
		if code != codes.Unavailable && code != codes.Aborted && code != codes.DeadlineExceeded && code != codes.ResourceExhausted {
			return fromStatus(err)
		}
		last = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.ended(ctx, uncertain, err)
		case <-changed:
			t.Stop()
			if code != codes.ResourceExhausted {
				backoff = 10 * time.Millisecond
			}
		case <-t.C:
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
}

// ended is the error of a mutation whose ctx ended: with ErrUnknownResult
// when an attempt may have been applied.
func (c *Client) ended(ctx context.Context, uncertain bool, last error) error {
	if uncertain {
		return &Error{Msg: fmt.Sprintf("outcome unknown: %v before the master answered (last error: %v)", ctx.Err(), fromStatus(last)),
			kind: ErrUnknownResult, cause: ctx.Err()}
	}
	return fmt.Errorf("%w (not applied; last error: %v)", ctx.Err(), fromStatus(last))
}

// Mkdir creates a directory.
func (c *Client) Mkdir(ctx context.Context, path string) error {
	if err := checkNewPath(path); err != nil {
		return err
	}
	return c.mutate(ctx, &masterpb.Mutation{Type: masterpb.Mutation_MKDIR, Path: path})
}

// Create creates an empty file.
func (c *Client) Create(ctx context.Context, path string) error {
	if err := checkNewPath(path); err != nil {
		return err
	}
	return c.mutate(ctx, &masterpb.Mutation{Type: masterpb.Mutation_CREATE, Path: path})
}

// Delete removes a file or an empty directory.
func (c *Client) Delete(ctx context.Context, path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	return c.mutate(ctx, &masterpb.Mutation{Type: masterpb.Mutation_DELETE, Path: path})
}

// Rename moves src to dst.
func (c *Client) Rename(ctx context.Context, src, dst string) error {
	if err := checkPath(src); err != nil {
		return err
	}
	if err := checkNewPath(dst); err != nil {
		return err
	}
	return c.mutate(ctx, &masterpb.Mutation{Type: masterpb.Mutation_RENAME, Path: src, Path2: dst})
}

// Stat describes path.
func (c *Client) Stat(ctx context.Context, path string) (Entry, error) {
	if err := checkPath(path); err != nil {
		return Entry{}, err
	}
	var e *masterpb.Entry
	err := c.call(ctx, true, func(ctx context.Context, m masterpb.MasterClient) error {
		var err error
		e, err = m.Stat(ctx, &masterpb.StatRequest{Path: path})
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	out := entryOf(e)
	out.Path = e.Path
	return out, nil
}

// List lists the directory at path, sorted by name.
func (c *Client) List(ctx context.Context, path string) ([]Entry, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	var r *masterpb.ListResponse
	err := c.call(ctx, true, func(ctx context.Context, m masterpb.MasterClient) error {
		var err error
		r, err = m.List(ctx, &masterpb.StatRequest{Path: path})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(r.Entries))
	for i, e := range r.Entries {
		out[i] = entryOf(e)
	}
	return out, nil
}

func entryOf(e *masterpb.Entry) Entry {
	out := Entry{Name: e.Name, Dir: e.Dir, Size: e.Size, Chunks: len(e.Chunks)}
	for _, ch := range e.Chunks {
		out.Handle = append(out.Handle, Chunk{Handle: ch.Handle, Version: ch.Version})
	}
	return out
}
