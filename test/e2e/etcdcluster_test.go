package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// etcdCluster is a multi-member etcd cluster of real processes built from the
// pinned version, each member on free loopback ports, in dir.
type etcdCluster struct {
	t       *testing.T
	dir     string
	Members []*etcdMember
	http    *http.Client
}

// etcdMember is one member process.
type etcdMember struct {
	*Process
	Name   string
	Client string // host:port of its client URL
	Peer   string // host:port of its peer URL
}

// newEtcdCluster makes, without starting them, n members that form one
// cluster, on free ports, with their data directories in dir.
func newEtcdCluster(t *testing.T, dir string, n int) *etcdCluster {
	t.Helper()
	e := &etcdCluster{t: t, dir: dir, http: &http.Client{Timeout: 2 * time.Second}}
	var initial []string
	for i := range n {
		m := &etcdMember{Name: fmt.Sprintf("e%d", i+1), Client: freeAddr(t), Peer: freeAddr(t)}
		e.Members = append(e.Members, m)
		initial = append(initial, m.Name+"=http://"+m.Peer)
	}
	for _, m := range e.Members {
		m.Process = newProcess(dir, "etcd-"+m.Name, bins.etcd,
			"--name", m.Name,
			"--data-dir", filepath.Join(dir, "etcd-"+m.Name+".data"),
			"--listen-client-urls", "http://"+m.Client,
			"--advertise-client-urls", "http://"+m.Client,
			"--listen-peer-urls", "http://"+m.Peer,
			"--initial-advertise-peer-urls", "http://"+m.Peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "gfsha-e2e",
			// A killed process loses nothing the kernel holds; only a
			// machine crash would need the fsyncs.
			"--unsafe-no-fsync",
			"--log-level", "warn",
		)
	}
	return e
}

// Start starts every member and waits until each reports itself healthy
// (which needs a leader). The caller kills the processes.
func (e *etcdCluster) Start() {
	e.t.Helper()
	for _, m := range e.Members {
		m.Start(e.t)
	}
	for _, m := range e.Members {
		e.WaitHealthy(m, 60*time.Second)
	}
}

// Endpoints is every member's client address, comma-separated.
func (e *etcdCluster) Endpoints() string {
	var eps []string
	for _, m := range e.Members {
		eps = append(eps, m.Client)
	}
	return strings.Join(eps, ",")
}

// EndpointList is every member's client address.
func (e *etcdCluster) EndpointList() []string { return strings.Split(e.Endpoints(), ",") }

// Healthy asks m's /health: true when it answers that it is healthy (it has
// a leader and can serve).
func (e *etcdCluster) Healthy(m *etcdMember) bool {
	resp, err := e.http.Get("http://" + m.Client + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
}

// WaitHealthy waits until m reports itself healthy.
func (e *etcdCluster) WaitHealthy(m *etcdMember, bound time.Duration) {
	e.t.Helper()
	if err := poll(e.t.Context(), bound, func() bool { return e.Healthy(m) }); err != nil {
		e.t.Fatalf("etcd member %s at %s not healthy: %v\n%s", m.Name, m.Client, err, m.tail(20))
	}
}

// endpointStatus is one entry of `etcdctl endpoint status -w json`.
type endpointStatus struct {
	Endpoint string `json:"Endpoint"`
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		} `json:"header"`
		Leader uint64 `json:"leader"`
	} `json:"Status"`
}

// Leader is the member that `etcdctl endpoint status` reports as the leader,
// asking the running members; nil when none of them names one it can map.
func (e *etcdCluster) Leader() *etcdMember {
	e.t.Helper()
	var eps []string
	for _, m := range e.Members {
		if m.Running() {
			eps = append(eps, m.Client)
		}
	}
	r := run(e.t, 20*time.Second, e.dir, bins.etcdctl, "--endpoints", strings.Join(eps, ","),
		"--command-timeout", "3s", "endpoint", "status", "-w", "json")
	if r.Code != 0 {
		return nil // a member is down or there is no leader yet: the caller retries
	}
	var sts []endpointStatus
	if err := json.Unmarshal([]byte(r.Stdout), &sts); err != nil {
		e.t.Fatalf("etcdctl endpoint status -w json: %v: %q", err, r.Stdout)
	}
	var leader uint64
	ids := map[uint64]string{}
	for _, s := range sts {
		ids[s.Status.Header.MemberID] = s.Endpoint
		if s.Status.Leader != 0 {
			leader = s.Status.Leader
		}
	}
	for _, m := range e.Members {
		if ep := ids[leader]; ep != "" && strings.TrimPrefix(ep, "http://") == m.Client {
			return m
		}
	}
	return nil
}

// WaitLeader waits until a leader is known and returns it.
func (e *etcdCluster) WaitLeader(bound time.Duration) *etcdMember {
	e.t.Helper()
	var l *etcdMember
	if err := poll(e.t.Context(), bound, func() bool { l = e.Leader(); return l != nil }); err != nil {
		e.t.Fatalf("etcd: no leader reported by etcdctl endpoint status: %v", err)
	}
	return l
}
