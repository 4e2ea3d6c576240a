package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/client"
)

// leaseTTL is every master's election lease: the failure detector.
const leaseTTL = "2s"

// pollEvery is how often waits re-check their condition.
const pollEvery = 5 * time.Millisecond

// Cluster is one etcd process and the master processes of one test, all in
// the test's own directory. Its methods are called from the test goroutine.
type Cluster struct {
	t       *testing.T
	Dir     string
	EtcdEP  string // host:port of etcd's client URL
	Etcd    *Process
	Masters []*Master
	procs   []*Process
	http    *http.Client

	// Before is `ctl status` as the fault driver read it just before a
	// fault, so that a Fault need not run ctl again between the writers'
	// release and the injection (on a loaded machine that can take long
	// enough for the writers to use up their budget). Zero: read it afresh.
	Before     ctlStatus
	injectedAt time.Time // set by a Fault at the moment of injection
}

// Master is one `master serve` process.
type Master struct {
	*Process
	ID   string
	RPC  string // gRPC address
	HTTP string // HTTP address

	mu   sync.Mutex // guards conn
	conn *grpc.ClientConn
}

// newCluster makes an empty cluster whose processes are killed when the test
// ends; if the test failed, the tail of each process's log is logged.
func newCluster(t *testing.T) *Cluster {
	c := &Cluster{t: t, Dir: t.TempDir(), http: &http.Client{Timeout: 2 * time.Second}}
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.kill()
		}
		for _, m := range c.Masters {
			m.closeConn()
		}
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("%s (pid %d):\n%s", p.Name, p.Pid(), p.tail(40))
			}
		}
	})
	return c
}

// startCluster starts etcd and one master per id, and waits until one of
// them serves.
func startCluster(t *testing.T, ids ...string) *Cluster {
	t.Helper()
	c := newCluster(t)
	c.StartEtcd("")
	for _, id := range ids {
		c.AddMaster(id)
	}
	c.WaitPrimary(30*time.Second, "")
	return c
}

var (
	portsMu sync.Mutex
	ports   = map[string]bool{} // addresses handed out by freeAddr in this run
)

// freeAddr returns a loopback address whose port was free a moment ago and
// that this test binary has not handed out before.
func freeAddr(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		addr := l.Addr().String()
		l.Close()
		if !ports[addr] {
			ports[addr] = true
			return addr
		}
	}
	t.Fatal("free port: no fresh port in 100 tries")
	return ""
}

// StartEtcd starts a single-member etcd whose client URL is on addr (a free
// port when empty) and waits until it answers.
func (c *Cluster) StartEtcd(addr string) {
	c.t.Helper()
	c.Etcd = c.NewEtcd(addr)
	c.Etcd.Start(c.t)
	c.WaitEtcd(30 * time.Second)
}

// NewEtcd makes, without starting it, the etcd process of this cluster.
func (c *Cluster) NewEtcd(addr string) *Process {
	c.t.Helper()
	if addr == "" {
		addr = freeAddr(c.t)
	}
	peer := freeAddr(c.t)
	c.EtcdEP = addr
	p := newProcess(c.Dir, "etcd", bins.etcd,
		"--name", "e1",
		"--data-dir", filepath.Join(c.Dir, "etcd.data"),
		"--listen-client-urls", "http://"+addr,
		"--advertise-client-urls", "http://"+addr,
		"--listen-peer-urls", "http://"+peer,
		"--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "e1=http://"+peer,
		"--unsafe-no-fsync",
		"--log-level", "warn",
	)
	c.procs = append(c.procs, p)
	return p
}

// WaitEtcd waits until etcd reports itself healthy.
func (c *Cluster) WaitEtcd(bound time.Duration) {
	c.t.Helper()
	c.waitFor(bound, "etcd at "+c.EtcdEP+" healthy", func() bool {
		body, code, err := c.get("http://" + c.EtcdEP + "/health")
		return err == nil && code == http.StatusOK && strings.Contains(body, `"health":"true"`)
	})
}

// AddMaster starts `master serve` as node id and waits until its HTTP
// endpoint answers. etcd need not be up. Flags in extra come last, so they
// override the defaults (e.g. "--election-lease-ttl", "10s").
func (c *Cluster) AddMaster(id string, extra ...string) *Master {
	c.t.Helper()
	m := &Master{ID: id, RPC: freeAddr(c.t), HTTP: freeAddr(c.t)}
	m.Process = newProcess(c.Dir, id, bins.master, append([]string{"serve",
		"--cluster", "default",
		"--node-id", id,
		"--listen", m.RPC,
		"--http-listen", m.HTTP,
		"--data-dir", filepath.Join(c.Dir, id+".data"),
		"--etcd-endpoints", c.EtcdEP,
		"--election-lease-ttl", leaseTTL,
		"--log-level", "info",
	}, extra...)...)
	c.procs = append(c.procs, m.Process)
	c.Masters = append(c.Masters, m)
	c.StartMaster(m)
	return m
}

// StartMaster starts m (again, with the same flags) and waits until its
// HTTP endpoint answers.
func (c *Cluster) StartMaster(m *Master) {
	c.t.Helper()
	m.Start(c.t)
	c.waitFor(20*time.Second, m.ID+" /healthz", func() bool {
		_, code, err := c.get("http://" + m.HTTP + "/healthz")
		return err == nil && code == http.StatusOK
	})
}

// Master is the master named id.
func (c *Cluster) Master(id string) *Master {
	c.t.Helper()
	for _, m := range c.Masters {
		if m.ID == id {
			return m
		}
	}
	c.t.Fatalf("no master %q in this cluster", id)
	return nil
}

// Other is the one master that is not m (two-master clusters).
func (c *Cluster) Other(m *Master) *Master {
	c.t.Helper()
	if len(c.Masters) != 2 {
		c.t.Fatalf("Other: cluster has %d masters, not 2", len(c.Masters))
	}
	if c.Masters[0] == m {
		return c.Masters[1]
	}
	return c.Masters[0]
}

// waitFor polls cond until it holds; the test fails after bound.
func (c *Cluster) waitFor(bound time.Duration, what string, cond func() bool) {
	c.t.Helper()
	if err := poll(c.t.Context(), bound, cond); err != nil {
		c.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// poll calls cond every pollEvery until it returns true, or fails when
// bound (or ctx) ends first.
func poll(ctx context.Context, bound time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %v: %w", bound, ctx.Err())
		case <-tick.C:
		}
	}
}

// get fetches url and returns its body and status code.
func (c *Cluster) get(url string) (string, int, error) {
	resp, err := c.http.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// Serving asks m's /primary: true on 200, false on 503.
func (c *Cluster) Serving(m *Master) (bool, error) {
	_, code, err := c.get("http://" + m.HTTP + "/primary")
	switch {
	case err != nil:
		return false, err
	case code == http.StatusOK:
		return true, nil
	case code == http.StatusServiceUnavailable:
		return false, nil
	}
	return false, fmt.Errorf("%s /primary: unexpected status %d", m.ID, code)
}

// memberStatus is a master's /status, and one member of `ctl status`.
type memberStatus struct {
	NodeID          string     `json:"node_id"`
	Role            string     `json:"role"`
	Address         string     `json:"address"`
	HTTPAddress     string     `json:"http_address"`
	LeaseID         string     `json:"lease_id"`
	AppliedIndex    uint64     `json:"applied_index"`
	LagEntries      uint64     `json:"lag_entries"`
	LagMs           float64    `json:"lag_ms"`
	CheckpointIndex uint64     `json:"checkpoint_index"`
	Token           int64      `json:"token"`
	LastPromotion   *promotion `json:"last_promotion"`
}

type promotion struct {
	Token           int64   `json:"token"`
	PreviousToken   int64   `json:"previous_token"`
	ReplayedEntries uint64  `json:"replayed_entries"`
	CatchUpMs       float64 `json:"catch_up_ms"`
	FirstWriteMs    float64 `json:"first_write_ms"`
}

// Status is m's /status.
func (c *Cluster) Status(m *Master) (memberStatus, error) {
	body, code, err := c.get("http://" + m.HTTP + "/status")
	if err != nil {
		return memberStatus{}, err
	}
	if code != http.StatusOK {
		return memberStatus{}, fmt.Errorf("%s /status: status %d: %s", m.ID, code, body)
	}
	var st memberStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return st, fmt.Errorf("%s /status: %v: %q", m.ID, err, body)
	}
	return st, nil
}

// WaitRole waits until m's /status reports role.
func (c *Cluster) WaitRole(m *Master, role string, bound time.Duration) {
	c.t.Helper()
	var last memberStatus
	var lastErr error
	err := poll(c.t.Context(), bound, func() bool {
		last, lastErr = c.Status(m)
		return lastErr == nil && last.Role == role
	})
	if err != nil {
		c.t.Fatalf("%s: role %q %v; last /status %+v (err %v)", m.ID, role, err, last, lastErr)
	}
}

// WaitPrimary waits until a master other than the one named except serves
// (its /primary answers 200) and returns it.
func (c *Cluster) WaitPrimary(bound time.Duration, except string) *Master {
	c.t.Helper()
	var got *Master
	c.waitFor(bound, "a primary other than "+fmt.Sprintf("%q", except), func() bool {
		for _, m := range c.Masters {
			if m.ID == except || !m.Running() {
				continue
			}
			if ok, _ := c.Serving(m); ok {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// primarySeen is when a new primary was first seen serving.
type primarySeen struct {
	m   *Master
	at  time.Time
	err error
}

// watchNewPrimary polls, from now on, every master but except until one
// serves, and sends when it first saw it. The poll is an HTTP GET on
// loopback every pollEvery, so the time is an upper bound with about that
// resolution.
func (c *Cluster) watchNewPrimary(bound time.Duration, except *Master) <-chan primarySeen {
	out := make(chan primarySeen, 1)
	var others []*Master
	for _, m := range c.Masters {
		if m != except {
			others = append(others, m)
		}
	}
	ctx := c.t.Context()
	go func() {
		hc := &http.Client{Timeout: time.Second}
		var seen primarySeen
		err := poll(ctx, bound, func() bool {
			for _, m := range others {
				resp, err := hc.Get("http://" + m.HTTP + "/primary")
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					seen = primarySeen{m: m, at: time.Now()}
					return true
				}
			}
			return false
		})
		if err != nil {
			seen.err = fmt.Errorf("no master but %s served: %w", except.ID, err)
		}
		out <- seen
	}()
	return out
}

// statusBefore is c.Before, or a fresh `ctl status` when it is unset.
func (c *Cluster) statusBefore() ctlStatus {
	c.t.Helper()
	if c.Before.Primary != "" {
		return c.Before
	}
	return c.CtlStatus()
}

// markInjected records that a fault has just been injected.
func (c *Cluster) markInjected() { c.injectedAt = time.Now() }

// ctlStatus is `master ctl status -o json`.
type ctlStatus struct {
	Cluster         string         `json:"cluster"`
	Primary         string         `json:"primary"`
	Shadow          string         `json:"shadow"`
	Token           int64          `json:"token"`
	LastFencedIndex uint64         `json:"last_fenced_index"`
	WALLagEntries   uint64         `json:"wal_lag_entries"`
	WALLagMs        float64        `json:"wal_lag_ms"`
	Members         []memberStatus `json:"members"`
}

// member is the entry of id.
func (s ctlStatus) member(id string) (memberStatus, bool) {
	for _, m := range s.Members {
		if m.NodeID == id {
			return m, true
		}
	}
	return memberStatus{}, false
}

// Ctl runs `master ctl ARGS --etcd-endpoints EP` to completion (bounded).
func (c *Cluster) Ctl(args ...string) cmdResult {
	c.t.Helper()
	args = append(append([]string{"ctl"}, args...), "--etcd-endpoints", c.EtcdEP)
	return run(c.t, 30*time.Second, c.Dir, bins.master, args...)
}

// CtlStatus runs `master ctl status -o json` and parses it.
func (c *Cluster) CtlStatus() ctlStatus {
	c.t.Helper()
	r := c.Ctl("status", "-o", "json")
	if r.Code != 0 {
		c.t.Fatalf("ctl status: %s", r)
	}
	var st ctlStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		c.t.Fatalf("ctl status -o json: %v: %q", err, r.Stdout)
	}
	return st
}

// NewClient is a client of the public package, closed when the test ends.
func (c *Cluster) NewClient() *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Endpoints: []string{c.EtcdEP}, Cluster: "default"})
	if err != nil {
		c.t.Fatalf("client.New: %v", err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// rpc is a gRPC client of m itself (not of whoever is primary). The
// connection survives m's restarts: it redials the same address.
func (m *Master) rpc(t *testing.T) masterpb.MasterClient {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		cc, err := grpc.NewClient(m.RPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatalf("%s: dial %s: %v", m.ID, m.RPC, err)
		}
		m.conn = cc
	}
	return masterpb.NewMasterClient(m.conn)
}

func (m *Master) closeConn() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		m.conn.Close()
		m.conn = nil
	}
}

// digestSample is a master's state digest at an applied index.
type digestSample struct {
	index  uint64
	digest string
}

// sampleDigest asks the master behind mc for its digest; ok is false when the applied index
// moved while the digest was computed (the digest's index is then unknown).
func sampleDigest(ctx context.Context, mc masterpb.MasterClient) (digestSample, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// The server reads the applied index, then computes the digest; a second
	// read of the same index proves that the digest belongs to it.
	a, err := mc.Status(ctx, &masterpb.StatusRequest{Digest: true})
	if err != nil {
		return digestSample{}, false, err
	}
	b, err := mc.Status(ctx, &masterpb.StatusRequest{})
	if err != nil {
		return digestSample{}, false, err
	}
	if a.GetAppliedIndex() != b.GetAppliedIndex() || a.GetDigest() == "" {
		return digestSample{}, false, nil
	}
	return digestSample{a.GetAppliedIndex(), a.GetDigest()}, true, nil
}

// WaitSameDigest samples both masters' digests (concurrently, while writes
// may go on) until both have reported a digest at the same applied index,
// and fails at once if two digests at the same index differ. It returns
// the common index.
func (c *Cluster) WaitSameDigest(a, b *Master, bound time.Duration) uint64 {
	c.t.Helper()
	ms := []*Master{a, b}
	mcs := []masterpb.MasterClient{a.rpc(c.t), b.rpc(c.t)}
	seen := []map[uint64]string{{}, {}}
	var common uint64
	var mismatch string
	var lastErr error
	err := poll(c.t.Context(), bound, func() bool {
		var wg sync.WaitGroup
		samples := make([]digestSample, 2)
		oks := make([]bool, 2)
		errs := make([]error, 2)
		for i := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				samples[i], oks[i], errs[i] = sampleDigest(c.t.Context(), mcs[i])
			}()
		}
		wg.Wait()
		for i := range ms {
			if errs[i] != nil {
				lastErr = fmt.Errorf("%s: %w", ms[i].ID, errs[i])
				continue
			}
			if oks[i] {
				seen[i][samples[i].index] = samples[i].digest
			}
		}
		for i := range ms {
			if !oks[i] {
				continue
			}
			idx := samples[i].index
			d0, ok0 := seen[0][idx]
			d1, ok1 := seen[1][idx]
			if ok0 && ok1 {
				if d0 != d1 {
					mismatch = fmt.Sprintf("at applied index %d %s has digest %s but %s has %s", idx, a.ID, d0, b.ID, d1)
				}
				common = idx
				return true
			}
		}
		return false
	})
	if mismatch != "" {
		c.t.Fatalf("state digests differ: %s", mismatch)
	}
	if err != nil {
		c.t.Fatalf("%s and %s never reported a digest at the same applied index: %v (last error: %v; %s saw %d indexes, %s %d)",
			a.ID, b.ID, err, lastErr, a.ID, len(seen[0]), b.ID, len(seen[1]))
	}
	return common
}
