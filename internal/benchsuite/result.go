package benchsuite

import "time"

// Result is one run's figures: what `master bench -o json` prints. The
// fields of issue 7 are write, failover, replay, memory and restart; the
// others add detail.
type Result struct {
	Write    Write    `json:"write"`
	Failover Failover `json:"failover"`
	Replay   Replay   `json:"replay"`
	Memory   Memory   `json:"memory"`
	Restart  Restart  `json:"restart"`

	// Scan is the cost of one walk of the namespace.
	Scan Scan `json:"scan"`
	// Sweep is the RPC write rate and latency at several concurrencies.
	Sweep []SweepPoint `json:"sweep"`
	// Reads are the read figures per consistency (read.go).
	Reads   []ReadPoint `json:"reads"`
	Targets []Target    `json:"targets"`
	Run     RunInfo     `json:"run"`
}

// RunInfo says how the figures were taken.
type RunInfo struct {
	Size   string  `json:"size"`
	Fsync  bool    `json:"fsync"`
	CPUs   int     `json:"cpus"`
	TotalS float64 `json:"total_s"`
	// LoadBefore is the machine's 1-minute load average as the run began
	// (Linux; 0 elsewhere): other work on the machine moves the figures.
	LoadBefore float64 `json:"load_before"`
}

// Write holds the acknowledged-write figures, all at Writers concurrent
// writers on the same etcd.
type Write struct {
	// OpsPerS, P50Ms and P99Ms: creates over RPC through the public client.
	OpsPerS float64 `json:"ops_per_s"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	// EngineOpsPerS: creates through node.Propose in the master's process.
	EngineOpsPerS float64 `json:"engine_ops_per_s"`
	EngineP50Ms   float64 `json:"engine_p50_ms"`
	EngineP99Ms   float64 `json:"engine_p99_ms"`
	// EtcdPutOpsPerS: plain etcd puts of a create-sized value, one etcd
	// client, the yardstick.
	EtcdPutOpsPerS float64 `json:"etcd_put_ops_per_s"`
	EtcdPutP50Ms   float64 `json:"etcd_put_p50_ms"`
	EtcdPutP99Ms   float64 `json:"etcd_put_p99_ms"`
	Writers        int     `json:"writers"`
	// RPCClients is the number of client.Client instances the RPC writers
	// share, as that many client processes would.
	RPCClients int `json:"rpc_clients"`
}

// SweepPoint is the RPC write rate at one concurrency.
type SweepPoint struct {
	Writers int     `json:"writers"`
	OpsPerS float64 `json:"ops_per_s"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
}

// Failover holds revoke-to-first-acknowledged-write times.
type Failover struct {
	Runs  int     `json:"runs"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Timeline is every run in order, split into phases.
	Timeline []FailoverRun `json:"timeline"`
}

// FailoverRun is one failover. The phases add up to TotalMs: from the
// revoke until the new primary won the election (RevokeToWonMs), its
// catch-up to the last fenced index (CatchUpMs), its first write under the
// new token (FirstWriteMs), and from serving until the benchmark's own write
// was acknowledged (AckMs).
type FailoverRun struct {
	Total           time.Duration `json:"-"`
	TotalMs         float64       `json:"total_ms"`
	RevokeToWonMs   float64       `json:"revoke_to_won_ms"`
	CatchUpMs       float64       `json:"catch_up_ms"`
	FirstWriteMs    float64       `json:"first_write_ms"`
	AckMs           float64       `json:"ack_ms"`
	ReplayedEntries uint64        `json:"replayed_entries"`
	NewPrimary      string        `json:"new_primary"`
}

// Replay is the standby's replay rate: Entries records over the median
// run's time.
type Replay struct {
	EntriesPerS float64 `json:"entries_per_s"`
	Entries     uint64  `json:"entries"`
	// Ms is the median run's time, MinMs and MaxMs the others' range.
	Ms    float64 `json:"ms"`
	MinMs float64 `json:"min_ms"`
	MaxMs float64 `json:"max_ms"`
	Runs  int     `json:"runs"`
}

// Memory is the state machine's heap per file.
type Memory struct {
	Files        int     `json:"files"`
	BytesPerFile float64 `json:"bytes_per_file"`
}

// Restart is a master's restart to serving from a checkpoint of Files files.
type Restart struct {
	Files int     `json:"files"`
	Ms    float64 `json:"ms"`
	Runs  int     `json:"runs"`
}

// Scan is one read of every chunk's version in a namespace of Files files,
// as the chunk master's replica scan does every ScanInterval (1 s by
// default, and only while chunkservers are registered).
type Scan struct {
	Files  int     `json:"files"`
	Chunks int     `json:"chunks"`
	WalkMs float64 `json:"walk_ms"`
}
