package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/cluster"
)

// Reads (Stat, List) go to any caught-up member, not only the primary:
// every member holds the whole namespace and answers with the consistency
// the read asks for (see docs/reads.md).

// ReadConfig is how a client reads (config keys read.*).
type ReadConfig struct {
	// Consistency is "linearizable" (default), "session" or "stale".
	Consistency string
	// From is "any" (default: round robin over the members, the primary
	// included), "primary", or "shadow" (the primary only as a last resort).
	From string
	// MaxLag: a stale read is refused by a member whose state may be older
	// (0: 5 s).
	MaxLag time.Duration
}

// Validate reports a bad value, naming the key and the fix.
func (r ReadConfig) Validate() error {
	switch r.Consistency {
	case "", "linearizable", "session", "stale":
	default:
		return fmt.Errorf("read.consistency %q: use linearizable, session or stale: %w", r.Consistency, ErrInvalid)
	}
	switch r.From {
	case "", "any", "primary", "shadow":
	default:
		return fmt.Errorf("read.from %q: use any, primary or shadow: %w", r.From, ErrInvalid)
	}
	if r.MaxLag < 0 {
		return fmt.Errorf("read.max_lag %v: must not be negative: %w", r.MaxLag, ErrInvalid)
	}
	return nil
}

type readKey struct{}

// WithRead returns ctx whose reads use r instead of the client's ReadConfig
// (empty fields keep the client's).
func WithRead(ctx context.Context, r ReadConfig) context.Context {
	return context.WithValue(ctx, readKey{}, r)
}

func (c *Client) readConfig(ctx context.Context) ReadConfig {
	r := c.cfg.Read
	if o, ok := ctx.Value(readKey{}).(ReadConfig); ok {
		if o.Consistency != "" {
			r.Consistency = o.Consistency
		}
		if o.From != "" {
			r.From = o.From
		}
		if o.MaxLag != 0 {
			r.MaxLag = o.MaxLag
		}
	}
	return r
}

// ReadInfo says who answered a read and how fresh its answer is.
type ReadInfo struct {
	ServedBy     string `json:"served_by"`
	AppliedIndex uint64 `json:"applied_index"`
	// LagMs bounds how old the answer's state may be (-1: unknown).
	LagMs int64 `json:"lag_ms"`
}

// SeenIndex is the highest log index this client has seen, in a write's
// acknowledgement or a read's answer: session reads never go behind it.
func (c *Client) SeenIndex() uint64 { return c.reads.seen.Load() }

// See raises SeenIndex to i (to carry a session across clients).
func (c *Client) See(i uint64) {
	s := &c.reads.seen
	for {
		old := s.Load()
		if i <= old || s.CompareAndSwap(old, i) {
			return
		}
	}
}

// readState is the client's read routing; its zero value is ready.
type readState struct {
	seen atomic.Uint64
	next atomic.Uint64 // round robin

	mu      sync.Mutex                      // guards the fields below
	members map[string]cluster.MemberStatus // by node id, as seen in etcd
	suspect map[string]time.Time            // address -> until when it is tried last
	loaded  chan struct{}                   // closed once members were first read
}

// membersLoaded is closed once the members were first read from etcd.
func (rs *readState) membersLoaded() chan struct{} {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.loaded == nil {
		rs.loaded = make(chan struct{})
	}
	return rs.loaded
}

// firstMembersWait bounds how long a client's first read waits for the
// member list, so that read.from is honoured from the first read on.
const firstMembersWait = 2 * time.Second

// readAttempt bounds one read at one member: a paused member costs this
// much before the next one is tried.
const readAttempt = 2 * time.Second

// suspectFor is how long a member that failed a read is tried last.
const suspectFor = 3 * time.Second

// targets orders the addresses a read tries, per read.from.
func (c *Client) targets(from string) []string {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	rs := &c.reads
	rs.mu.Lock()
	var primary string
	var shadows []string
	for _, m := range rs.members {
		if m.Address == "" {
			continue
		}
		if m.NodeID == leader.NodeID || m.Role == cluster.RolePrimary {
			if primary == "" || m.NodeID == leader.NodeID {
				primary = m.Address
			}
			continue
		}
		shadows = append(shadows, m.Address)
	}
	now := time.Now()
	suspects := map[string]bool{}
	for a, until := range rs.suspect {
		if now.Before(until) {
			suspects[a] = true
		}
	}
	rs.mu.Unlock()
	isSuspect := func(a string) bool { return suspects[a] }
	if leader.Address != "" {
		primary = leader.Address
	}
	// A stable order, then rotated: round robin across reads.
	sortStrings(shadows)
	var out []string
	switch from {
	case "primary":
		if primary != "" {
			out = []string{primary}
		}
	case "shadow":
		out = rotate(shadows, rs.next.Add(1))
		if primary != "" {
			out = append(out, primary)
		}
	default:
		all := shadows
		if primary != "" {
			all = append(all, primary)
		}
		sortStrings(all)
		out = rotate(all, rs.next.Add(1))
	}
	// Suspects last, in the same order.
	var good, bad []string
	for _, a := range out {
		if isSuspect(a) {
			bad = append(bad, a)
		} else {
			good = append(good, a)
		}
	}
	return append(good, bad...)
}

func rotate(s []string, by uint64) []string {
	if len(s) == 0 {
		return nil
	}
	k := int(by % uint64(len(s)))
	return append(append([]string{}, s[k:]...), s[:k]...)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (c *Client) markSuspect(addr string) {
	rs := &c.reads
	rs.mu.Lock()
	if rs.suspect == nil {
		rs.suspect = map[string]time.Time{}
	}
	rs.suspect[addr] = time.Now().Add(suspectFor)
	rs.mu.Unlock()
}

// readFunc is one read at one member.
type readFunc[T any] func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (T, error)

// hedgeAfter: a read not answered this soon is also sent to the next
// member, and the first answer wins (a paused member then costs this, not
// readAttempt).
const hedgeAfter = 250 * time.Millisecond

// read runs fn at one member after another, per the read config, until one
// answers (an error that is an answer, such as not found, included), or ctx
// ends. A member that refuses (UNAVAILABLE: lagging, cannot reach etcd) or
// fails (unreachable, paused) is tried last for a while; one that is slow
// to answer gets company: the read also goes to the next member.
func read[T any](ctx context.Context, c *Client, fn readFunc[T]) (T, ReadInfo, error) {
	var zero T
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DefaultTimeout)
		defer cancel()
	}
	rc := c.readConfig(ctx)
	if err := rc.Validate(); err != nil {
		return zero, ReadInfo{}, err
	}
	if rc.From != "primary" {
		t := time.NewTimer(firstMembersWait)
		select {
		case <-c.reads.membersLoaded():
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	type result struct {
		v    T
		info ReadInfo
		err  error
		addr string
	}
	backoff := 10 * time.Millisecond
	var last error
	for {
		c.mu.Lock()
		changed, closed := c.changed, c.closed
		c.mu.Unlock()
		if closed {
			return zero, ReadInfo{}, ErrClosed
		}
		targets := c.targets(rc.From)
		// Every attempt ends when this round does; the channel holds every
		// answer, so no attempt blocks.
		rctx, rcancel := context.WithCancel(ctx)
		results := make(chan result, len(targets))
		next, out := 0, 0
		launch := func() {
			addr := targets[next]
			next++
			out++
			go func() {
				v, info, err := readAt(rctx, c, addr, rc, fn)
				results <- result{v, info, err, addr}
			}()
		}
		hedge := time.NewTimer(hedgeAfter)
		if len(targets) > 0 {
			launch()
		}
		for out > 0 {
			select {
			case r := <-results:
				out--
				if r.err == nil || !retryRead(r.err) {
					hedge.Stop()
					rcancel()
					// Members asked earlier that have not answered yet
					// were slower than hedgeAfter: try them last for a while.
					for _, a := range targets[:next] {
						if a == r.addr {
							break
						}
						c.markSuspect(a)
					}
					if r.err != nil {
						return zero, r.info, fromStatus(r.err)
					}
					return r.v, r.info, nil
				}
				if ctx.Err() == nil {
					c.markSuspect(r.addr)
				}
				last = fmt.Errorf("%s: %w", r.addr, r.err)
				if next < len(targets) {
					launch()
					hedge.Reset(hedgeAfter)
				}
			case <-hedge.C:
				if next < len(targets) {
					launch()
					hedge.Reset(hedgeAfter)
				}
			}
		}
		hedge.Stop()
		rcancel()
		if last == nil {
			last = fmt.Errorf("no master of cluster %q is known: %w", c.cfg.Cluster, ErrNoPrimary)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ReadInfo{}, fmt.Errorf("%w (last error: %v)", ctx.Err(), fromStatus(last))
		case <-changed:
			t.Stop()
			backoff = 10 * time.Millisecond
		case <-t.C:
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
}

// retryRead: the member did not answer; another may.
func retryRead(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.Unknown, codes.Internal:
		return true
	}
	return false
}

func readAt[T any](ctx context.Context, c *Client, addr string, rc ReadConfig, fn readFunc[T]) (T, ReadInfo, error) {
	cc, err := c.grpcConn(addr)
	if err != nil {
		var zero T
		return zero, ReadInfo{}, status.Error(codes.Unavailable, err.Error())
	}
	actx, cancel := context.WithTimeout(ctx, readAttempt)
	defer cancel()
	kv := []string{masterpb.MDReadConsistency, rc.Consistency}
	if rc.Consistency == "" {
		kv[1] = "linearizable"
	}
	switch rc.Consistency {
	case "session":
		kv = append(kv, masterpb.MDReadIndex, strconv.FormatUint(c.SeenIndex(), 10))
	case "stale":
		if rc.MaxLag > 0 {
			kv = append(kv, masterpb.MDReadMaxLagMs, strconv.FormatInt(rc.MaxLag.Milliseconds(), 10))
		}
	}
	actx = metadata.AppendToOutgoingContext(actx, kv...)
	var hdr metadata.MD
	v, err := fn(actx, cc, grpc.Header(&hdr))
	info := readInfoOf(hdr)
	if info.ServedBy != "" {
		c.See(info.AppliedIndex)
	}
	return v, info, err
}

func readInfoOf(md metadata.MD) ReadInfo {
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	info := ReadInfo{ServedBy: get(masterpb.MDServedBy), LagMs: -1}
	info.AppliedIndex, _ = strconv.ParseUint(get(masterpb.MDAppliedIndex), 10, 64)
	if v, err := strconv.ParseInt(get(masterpb.MDLagMs), 10, 64); err == nil {
		info.LagMs = v
	}
	return info
}

// StatInfo is Stat, also saying who answered.
func (c *Client) StatInfo(ctx context.Context, path string) (Entry, ReadInfo, error) {
	e, info, err := read(ctx, c, func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*masterpb.Entry, error) {
		return masterpb.NewMasterClient(cc).Stat(ctx, &masterpb.StatRequest{Path: path}, opts...)
	})
	if err != nil {
		return Entry{}, info, err
	}
	out := entryOf(e)
	out.Path = e.Path
	return out, info, nil
}

// ListInfo is List, also saying who answered.
func (c *Client) ListInfo(ctx context.Context, path string) ([]Entry, ReadInfo, error) {
	r, info, err := read(ctx, c, func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*masterpb.ListResponse, error) {
		return masterpb.NewMasterClient(cc).List(ctx, &masterpb.StatRequest{Path: path}, opts...)
	})
	if err != nil {
		return nil, info, err
	}
	out := make([]Entry, len(r.Entries))
	for i, e := range r.Entries {
		out[i] = entryOf(e)
	}
	return out, info, nil
}

// LocateInfo lists the chunks of the file at path with their replicas,
// read like Stat (read.consistency, read.from): a shadow answers from the
// locations the chunkservers report to it, so a file can be read while the
// primary is unavailable. It also says who answered.
func (c *Client) LocateInfo(ctx context.Context, path string) (*chunkpb.LocateResponse, ReadInfo, error) {
	return read(ctx, c, func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*chunkpb.LocateResponse, error) {
		return chunkpb.NewChunkMasterClient(cc).Locate(ctx, &chunkpb.LocateRequest{Path: path}, opts...)
	})
}

// Members lists the members this client may read from, as last seen in
// etcd.
func (c *Client) Members() []cluster.MemberStatus {
	rs := &c.reads
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]cluster.MemberStatus, 0, len(rs.members))
	for _, m := range rs.members {
		out = append(out, m)
	}
	return out
}

// followMembers keeps c.reads.members current from the member status keys
// in etcd (each lives as long as its member's session).
func (c *Client) followMembers(ctx context.Context) {
	prefix := c.keys.Members()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := c.followMembersOnce(ctx, prefix)
		if ctx.Err() != nil {
			return
		}
		_ = err // etcd unreachable: keep the members last seen, retry
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (c *Client) followMembersOnce(ctx context.Context, prefix string) error {
	r, err := c.etcd.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	ms := map[string]cluster.MemberStatus{}
	for _, kv := range r.Kvs {
		var m cluster.MemberStatus
		if json.Unmarshal(kv.Value, &m) == nil && m.NodeID != "" {
			ms[string(kv.Key)] = m
		}
	}
	c.setMembers(ms)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range c.etcd.Watch(clientv3.WithRequireLeader(wctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(r.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			k := string(ev.Kv.Key)
			if ev.Type == clientv3.EventTypeDelete {
				delete(ms, k)
				continue
			}
			var m cluster.MemberStatus
			if json.Unmarshal(ev.Kv.Value, &m) == nil && m.NodeID != "" {
				ms[k] = m
			}
		}
		c.setMembers(ms)
	}
	return ctx.Err()
}

func (c *Client) setMembers(byKey map[string]cluster.MemberStatus) {
	out := make(map[string]cluster.MemberStatus, len(byKey))
	for _, m := range byKey {
		out[m.NodeID] = m
	}
	rs := &c.reads
	loaded := rs.membersLoaded()
	rs.mu.Lock()
	first := rs.members == nil
	rs.members = out
	rs.mu.Unlock()
	if first {
		close(loaded)
	}
}
