package e2e

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/faultproxy"
)

// The fault suite (issue 7): a real three-member etcd cluster, three masters
// that reach etcd through per-master TCP proxies (so that one master can be
// cut off from etcd), three chunkservers, and concurrent clients of the
// public package doing creates, mkdirs, renames, deletes, stats, lists and
// small Put/Cat of data, while faults are injected: lease revoke, kill -9
// of the primary, SIGSTOP of the primary past its lease TTL, a partition
// between the primary and etcd, kill of an etcd follower and of the etcd
// leader. After the run:
//
//   - the history of client operations is linearizable (porcupine, with a
//     failed write counted as maybe-applied), including reads sent straight
//     to every master, primary or not, which must answer only while they
//     may;
//   - no acknowledged write is lost (checked apart from porcupine, against
//     a final read of every path);
//   - all masters reach the same state digest at the same applied index;
//   - no chunkserver accepted a stale token: each obeys the current
//     primary's token (its Info, its persisted TOKEN file and the primary's
//     listing agree), refuses a command under every older token seen, and
//     its log never shows a registration or an accepted command under a
//     token below one it registered with before;
//   - failover time per fault kind is reported.
//
// TestFaultSuiteShort runs every kind of fault once, in the default test
// run. With `-tags faults`, TestFaultSuite injects faults at random for
// -faults.duration. On a failure the run keeps its directory (process logs,
// data directories, the history as JSON lines and porcupine's visualization)
// and logs where it is.

var (
	faultsSeed = flag.Uint64("faults.seed", 0, "seed of the fault suite's random choices: fault kinds, order and delays, and the operations (0: from the clock); it is logged")
	faultsData = flag.Bool("faults.data", true, "include client Put and Cat (the data path) in the fault suite's workload")
	faultsKeep = flag.Bool("faults.keep", false, "keep the fault suite's directory (logs, data, history) even when it passes")
)

// suiteConfig sizes one run of the fault suite.
type suiteConfig struct {
	Duration     time.Duration    // inject faults at random for this long; 0: every kind once, in random order
	Masters      int              // master processes
	Groups       int              // worker groups, each in its own top-level directory
	Workers      int              // concurrent workers per group
	Clients      int              // client.Client instances the workers share
	EpochOps     int              // operations of a worker in one directory of its group before it moves to the next
	Think        time.Duration    // longest pause between a worker's operations
	Gap          [2]time.Duration // pause between faults, at random in this range
	Hold         time.Duration    // longest extra time a fault stays injected after it took effect
	Data         bool             // Put and Cat in the workload
	CheckTimeout time.Duration    // bound on porcupine
}

// shortSuite is the default test run's configuration: every fault kind once.
func shortSuite() suiteConfig {
	return suiteConfig{
		Masters: 3, Groups: 3, Workers: 3, Clients: 3, EpochOps: 25,
		Think: 20 * time.Millisecond, Gap: [2]time.Duration{200 * time.Millisecond, 600 * time.Millisecond},
		Hold: 300 * time.Millisecond, Data: *faultsData, CheckTimeout: time.Minute,
	}
}

// TestFaultSuiteShort injects each kind of fault once under concurrent
// clients and checks every invariant of the suite (see above).
func TestFaultSuiteShort(t *testing.T) {
	runFaultSuite(t, shortSuite())
}

// faultSuite is one run: its processes, clients, history and results. Its
// methods run on the test goroutine unless they say otherwise.
type faultSuite struct {
	t    *testing.T
	cfg  suiteConfig
	seed uint64
	rng  *rand.Rand // the fault driver's
	dir  string     // removed after a successful run, kept after a failure

	etcd    *etcdCluster
	c       *Cluster // the masters, for the harness's status helpers
	masters []*suiteMaster
	cs      []*chunkserverProc
	direct  map[string]masterpb.MasterClient // each master's RPC, not the primary's
	conns   []*grpc.ClientConn
	clients []*client.Client
	checker *client.Client

	hist       *history
	work       *workload
	injectedAt time.Time
	events     []faultEvent
	tokens     []int64  // every primary token seen, ascending
	unprovoked []string // leadership changes seen between faults
}

// suiteMaster is a master with its proxies, one per etcd member.
type suiteMaster struct {
	*Master
	proxies []*faultproxy.Proxy
}

// faultEvent is what one injected fault did.
type faultEvent struct {
	Kind               string
	From, To           string
	OldToken, NewToken int64
	Inject, Healed     time.Duration // since the history began
	Failover           time.Duration // injection to another primary serving (role primary, new token); 0: none
	WriteBack          time.Duration // injection to the acknowledgement of a create issued right after it
	CatchUpMs          float64       // the new primary's own phases
	FirstWriteMs       float64
}

func runFaultSuite(t *testing.T, cfg suiteConfig) {
	s := newFaultSuite(t, cfg)
	s.start()
	s.work = s.startWorkload()
	s.driveFaults()
	s.work.Stop(90 * time.Second)
	s.verify()
}

func newFaultSuite(t *testing.T, cfg suiteConfig) *faultSuite {
	t.Helper()
	seed := *faultsSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	dir, err := os.MkdirTemp("", "gfsha-faultsuite-")
	if err != nil {
		t.Fatal(err)
	}
	s := &faultSuite{t: t, cfg: cfg, seed: seed, rng: rand.New(rand.NewPCG(seed, 0)), dir: dir,
		direct: map[string]masterpb.MasterClient{}, hist: newHistory()}
	s.c = &Cluster{t: t, Dir: dir, http: statusHTTP()}
	t.Cleanup(s.cleanup)
	t.Logf("fault suite: seed %d (-faults.seed %d makes the same random choices; timing still differs), directory %s", seed, seed, dir)
	return s
}

// cleanup stops the workers, the clients and every process; it removes the
// run's directory only if the test passed.
func (s *faultSuite) cleanup() {
	t := s.t
	if s.work != nil {
		s.work.Stop(30 * time.Second)
	}
	for _, cl := range s.clients {
		cl.Close()
	}
	if s.checker != nil {
		s.checker.Close()
	}
	for _, cc := range s.conns {
		cc.Close()
	}
	var procs []*Process
	for _, m := range s.masters {
		procs = append(procs, m.Process)
	}
	for _, cs := range s.cs {
		procs = append(procs, cs.Process)
	}
	if s.etcd != nil {
		for _, m := range s.etcd.Members {
			procs = append(procs, m.Process)
		}
	}
	for _, p := range procs {
		if p != nil {
			p.kill()
		}
	}
	for _, m := range s.masters {
		for _, p := range m.proxies {
			p.Close()
		}
	}
	if !t.Failed() && !*faultsKeep {
		os.RemoveAll(s.dir)
		return
	}
	history := filepath.Join(s.dir, "history.jsonl")
	if err := writeHistory(history, s.hist.snapshot()); err != nil {
		t.Logf("writing the history: %v", err)
	}
	if !t.Failed() {
		t.Logf("fault suite: logs, data and the history (%s) kept in %s (-faults.keep)", filepath.Base(history), s.dir)
		return
	}
	for _, p := range procs {
		if p != nil {
			t.Logf("%s (pid %d):\n%s", p.Name, p.Pid(), p.tail(30))
		}
	}
	t.Logf("fault suite FAILED: every process's log (NAME.stderr), the data directories, the history of operations "+
		"(%s, one JSON object per line) and porcupine's visualizations (linearizability-*.html, if any) are kept in %s (seed %d)",
		filepath.Base(history), s.dir, s.seed)
}

// start brings up etcd, the masters, the chunkservers and the clients, and
// waits until the cluster is steady.
func (s *faultSuite) start() {
	t := s.t
	t.Helper()
	begin := time.Now()
	s.etcd = newEtcdCluster(t, s.dir, 3)
	s.etcd.Start()
	s.c.EtcdEP = s.etcd.Endpoints() // ctl takes a comma-separated list
	for i := range s.cfg.Masters {
		s.addMaster(fmt.Sprintf("n%d", i+1))
	}
	for i := range 3 {
		s.addChunkserver(fmt.Sprintf("cs%d", i+1))
	}
	for range s.cfg.Clients {
		s.clients = append(s.clients, s.newClient())
	}
	s.checker = s.newClient()
	st := s.waitSteady(60 * time.Second)
	s.tokens = append(s.tokens, st.token)
	t.Logf("fault suite: 3 etcd members, %d masters (each through its own proxies), 3 chunkservers up in %v; %s serves under token %d",
		s.cfg.Masters, time.Since(begin).Round(time.Millisecond), st.m.ID, st.token)
}

// addMaster starts `master serve` whose etcd endpoints are its own proxies,
// one per etcd member.
func (s *faultSuite) addMaster(id string) {
	t := s.t
	t.Helper()
	m := &suiteMaster{Master: &Master{ID: id, RPC: freeAddr(t), HTTP: freeAddr(t)}}
	var eps []string
	for _, e := range s.etcd.Members {
		p := faultproxy.Start(t, id+"→"+e.Name, e.Client)
		m.proxies = append(m.proxies, p)
		eps = append(eps, p.Addr())
	}
	m.Process = newProcess(s.dir, id, bins.master, "serve",
		"--cluster", "default",
		"--node-id", id,
		"--listen", m.RPC,
		"--http-listen", m.HTTP,
		"--data-dir", filepath.Join(s.dir, id+".data"),
		"--etcd-endpoints", strings.Join(eps, ","),
		"--election-lease-ttl", leaseTTL,
		// Checkpoints and trims happen during the run.
		"--checkpoint-entries", "1000",
		"--checkpoint-interval", "1s",
		"--wal-trim-interval", "2s",
		// Small chunks, so that a Put of up to 200 KiB spans several; a
		// short chunk lease, so that a new primary need not wait 60 s
		// before it leases a chunk of its predecessor's term again.
		"--chunk-size", "64KiB",
		"--chunk-lease", "5s",
		"--log-level", "info",
	)
	s.masters = append(s.masters, m)
	s.c.Masters = append(s.c.Masters, m.Master)
	cc, err := grpc.NewClient(m.RPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("%s: dial %s: %v", id, m.RPC, err)
	}
	s.conns = append(s.conns, cc)
	s.direct[id] = masterpb.NewMasterClient(cc)
	s.c.StartMaster(m.Master)
}

// addChunkserver starts `master chunkserver`, which finds the primary
// through etcd (all members, directly).
func (s *faultSuite) addChunkserver(id string) {
	t := s.t
	t.Helper()
	cs := &chunkserverProc{ID: id, Addr: freeAddr(t), Dir: filepath.Join(s.dir, id+".data")}
	cs.Process = newProcess(s.dir, id, bins.master, "chunkserver",
		"--id", id, "--dir", cs.Dir, "--listen", cs.Addr,
		"--cluster", "default", "--etcd-endpoints", s.etcd.Endpoints(), "--log-level", "info")
	s.cs = append(s.cs, cs)
	cs.Start(t)
}

// newClient is a client of the public package on every etcd member.
func (s *faultSuite) newClient() *client.Client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Endpoints: s.etcd.EndpointList(), Cluster: "default"})
	if err != nil {
		s.t.Fatalf("client.New: %v", err)
	}
	return cl
}

// markInjected records the moment a fault takes effect.
func (s *faultSuite) markInjected() { s.injectedAt = time.Now() }

// primaryStatus is the serving primary and its /status.
func (s *faultSuite) primaryStatus() (*suiteMaster, memberStatus) {
	s.t.Helper()
	for _, m := range s.masters {
		if !m.Running() {
			continue
		}
		if ok, _ := s.c.Serving(m.Master); !ok {
			continue
		}
		st, err := s.c.Status(m.Master)
		if err == nil && st.Role == "primary" {
			return m, st
		}
	}
	s.t.Fatal("no master serves")
	return nil, memberStatus{}
}

// steadyState is the cluster once steady.
type steadyState struct {
	m     *suiteMaster
	token int64
}

// waitSteady waits until every etcd member is healthy, every master runs,
// exactly one serves as primary and the others are standbys, and every
// chunkserver is registered with the primary and obeys its token.
func (s *faultSuite) waitSteady(bound time.Duration) steadyState {
	t := s.t
	t.Helper()
	var st steadyState
	var why string
	err := poll(t.Context(), bound, func() bool {
		st = steadyState{}
		for _, e := range s.etcd.Members {
			if !e.Running() || !s.etcd.Healthy(e) {
				why = "etcd member " + e.Name + " not healthy"
				return false
			}
		}
		for _, m := range s.masters {
			if !m.Running() {
				why = m.ID + " not running"
				return false
			}
			ms, err := s.c.Status(m.Master)
			if err != nil {
				why = err.Error()
				return false
			}
			switch {
			case ms.Role == "primary" && st.m == nil:
				st = steadyState{m: m, token: ms.Token}
			case ms.Role == "standby":
			default:
				why = fmt.Sprintf("%s is %s (token %d)", m.ID, ms.Role, ms.Token)
				return false
			}
		}
		if st.m == nil {
			why = "no primary"
			return false
		}
		if ok, _ := s.c.Serving(st.m.Master); !ok {
			why = st.m.ID + " is primary but /primary does not answer 200"
			return false
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		r, err := s.checker.Chunkservers(ctx)
		if err != nil {
			why = "chunkservers: " + err.Error()
			return false
		}
		if r.Token != st.token || len(r.Chunkservers) != len(s.cs) {
			why = fmt.Sprintf("chunkservers listed by %s under token %d: %d of %d", r.Primary, r.Token, len(r.Chunkservers), len(s.cs))
			return false
		}
		for _, cs := range r.Chunkservers {
			if cs.Token != st.token {
				why = fmt.Sprintf("chunkserver %s obeys token %d, not %d", cs.ID, cs.Token, st.token)
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("cluster not steady: %v (last: %s)", err, why)
	}
	return st
}

// pause waits d (a randomized delay between faults, not a wait for a
// condition), or until the test ends.
func (s *faultSuite) pause(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-s.t.Context().Done():
	}
}

// between is a random duration in [lo, hi).
func (s *faultSuite) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

// driveFaults injects faults, one at a time: every kind once in random
// order, or random kinds until the configured duration has passed.
func (s *faultSuite) driveFaults() {
	kinds := allFaults()
	var names []string
	for _, f := range kinds {
		names = append(names, f.Name())
	}
	deadline := time.Now().Add(s.cfg.Duration)
	order := s.rng.Perm(len(names))
	for i := 0; ; i++ {
		var f suiteFault
		switch {
		case s.cfg.Duration == 0 && i < len(order):
			f = newFault(names[order[i]])
		case s.cfg.Duration > 0 && time.Now().Before(deadline):
			f = newFault(names[s.rng.IntN(len(names))])
		}
		if f == nil {
			return
		}
		s.pause(s.between(s.cfg.Gap[0], s.cfg.Gap[1]))
		ev := s.runFault(f)
		s.events = append(s.events, ev)
		s.t.Logf("fault %d %-28s %s→%s token %d→%d failover %-10v write back %-10v (ops so far %d)", len(s.events), ev.Kind,
			ev.From, ev.To, ev.OldToken, ev.NewToken, ev.Failover.Round(time.Millisecond), ev.WriteBack.Round(time.Millisecond), s.work.ops.Load())
	}
}

// primarySeenAt is a master seen serving under a new token, and when.
type primarySeenAt struct {
	m     *suiteMaster
	token int64
	at    time.Time
}

// watchPrimaryChange polls every master's /status (each in its own
// goroutine, so that a paused one holds up no other) until one reports role
// primary under a token above old, and sends the first it saw. It stops
// when ctx ends.
func (s *faultSuite) watchPrimaryChange(ctx context.Context, old int64) <-chan primarySeenAt {
	out := make(chan primarySeenAt, len(s.masters))
	hc := statusHTTP()
	hc.Timeout = 300 * time.Millisecond
	for _, m := range s.masters {
		go func() {
			poll(ctx, 10*time.Minute, func() bool {
				resp, err := hc.Get("http://" + m.HTTP + "/status")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				var st memberStatus
				if decodeJSON(resp.Body, &st) != nil || st.Role != "primary" || st.Token <= old {
					return false
				}
				out <- primarySeenAt{m: m, token: st.Token, at: time.Now()}
				return true
			})
		}()
	}
	return out
}

// runFault injects f, waits as f needs, recovers it, waits until the cluster
// is steady, and checks what every fault must leave behind: tokens never go
// back, and after a failover every chunkserver refuses the old token.
func (s *faultSuite) runFault(f suiteFault) faultEvent {
	t := s.t
	t.Helper()
	before := s.waitSteady(60 * time.Second)
	if before.token != s.tokens[len(s.tokens)-1] {
		s.noteLeadership(before, fmt.Sprintf("before fault %d", len(s.events)+1))
		s.checkOldTokensRefused("a leadership change between faults", before.token)
	}
	ev := faultEvent{Kind: f.Name(), From: before.m.ID, OldToken: before.token}
	probeRoot := fmt.Sprintf("/probe%d", len(s.events))
	if !s.work.mkdirRoot(s.checker, probeRoot, 0, nil) {
		t.Fatalf("mkdir %s on a steady cluster: no definite answer in ten tries", probeRoot)
	}

	wctx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	seen := s.watchPrimaryChange(wctx, before.token)
	f.Inject(t, s)
	ev.Inject = s.injectedAt.Sub(s.hist.start)
	// A write issued right after the injection: when it is acknowledged,
	// clients can write again.
	probe := make(chan histOp, 1)
	go func() {
		probe <- s.work.exec(s.checker, 0, nsInput{Part: probeRoot, Kind: opCreate, Path: probeRoot + "/p"}, "", 60*time.Second)
	}()

	var first primarySeenAt
	if f.Deposes() {
		tm := time.NewTimer(30 * time.Second)
		select {
		case first = <-seen:
			tm.Stop()
		case <-tm.C:
			t.Fatalf("%s of %s: no other master served as primary within 30s", f.Name(), before.m.ID)
		}
		s.pause(s.between(0, s.cfg.Hold))
	} else {
		tm := time.NewTimer(s.between(time.Second, 3*time.Second))
		select {
		case first = <-seen:
			<-tm.C
		case <-tm.C:
		}
	}
	f.Recover(t, s)
	ev.Healed = s.hist.now()

	tm := time.NewTimer(60 * time.Second)
	defer tm.Stop()
	select {
	case op := <-probe:
		s.hist.add(op)
		if op.Out.Res != resOK {
			t.Fatalf("%s: a create issued right after the injection failed: %s (%s)", f.Name(), op.Out.Res, op.Err)
		}
		ev.WriteBack = op.Return - ev.Inject
	case <-tm.C:
		t.Fatalf("%s: a create issued right after the injection was not answered within 60s", f.Name())
	}
	after := s.waitSteady(60 * time.Second)
	if first.m == nil && after.token != before.token {
		select { // the watcher may have seen it while the probe ran
		case first = <-seen:
		default:
		}
	}
	stopWatch()
	ev.To, ev.NewToken = after.m.ID, after.token
	if first.m != nil {
		ev.Failover = first.at.Sub(s.injectedAt)
	}
	switch {
	case after.token < before.token:
		t.Fatalf("%s: token went back from %d to %d", f.Name(), before.token, after.token)
	case f.Deposes() && after.token == before.token:
		t.Fatalf("%s: %s still serves under token %d", f.Name(), after.m.ID, after.token)
	case after.token != before.token:
		if ms, err := s.c.Status(after.m.Master); err == nil && ms.LastPromotion != nil {
			ev.CatchUpMs, ev.FirstWriteMs = ms.LastPromotion.CatchUpMs, ms.LastPromotion.FirstWriteMs
		}
		s.tokens = append(s.tokens, after.token)
		s.checkOldTokensRefused(f.Name(), after.token)
	}
	return ev
}
