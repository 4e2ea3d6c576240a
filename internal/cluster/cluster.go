package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gfsha/master/internal/walship"
)

// Keys lays out a cluster's keys under Prefix ("/gfsha/<cluster>").
type Keys struct{ Prefix string }

// ForCluster returns the keys of the named cluster.
func ForCluster(name string) Keys { return Keys{Prefix: "/gfsha/" + name} }

// Election is the election prefix (candidates are keys below it).
func (k Keys) Election() string { return k.Prefix + "/election" }

// WAL is the operation log's layout.
func (k Keys) WAL() walship.Keys { return walship.Keys{Prefix: k.Prefix + "/wal"} }

// Members is the prefix of member status keys.
func (k Keys) Members() string { return k.Prefix + "/members/" }

// Member is one member's status key.
func (k Keys) Member(nodeID string) string { return k.Members() + nodeID }

// History is the prefix of leadership-change records.
func (k Keys) History() string { return k.Prefix + "/history/" }

// HistoryEntry is the key of the record written by the leader with token.
func (k Keys) HistoryEntry(token int64) string { return fmt.Sprintf("%s%020d", k.History(), token) }

// Control is the prefix of operator requests (pause, switchover).
func (k Keys) Control() string { return k.Prefix + "/control/" }

// ControlKey is one control key (see ControlPaused and friends).
func (k Keys) ControlKey(name string) string { return k.Control() + name }

// LeaderValue is what a candidate stores in its election key.
type LeaderValue struct {
	NodeID      string `json:"node_id"`
	Address     string `json:"address"`
	HTTPAddress string `json:"http_address"`
}

// Encode returns the JSON form.
func (v LeaderValue) Encode() []byte { b, _ := json.Marshal(v); return b }

// DecodeLeaderValue parses an election key's value.
func DecodeLeaderValue(b []byte) (LeaderValue, error) {
	var v LeaderValue
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("cluster: leader value %q: %w", b, err)
	}
	return v, nil
}

// Roles a member reports.
const (
	RoleStandby    = "standby"
	RoleCandidate  = "candidate"
	RoleCatchingUp = "catching-up"
	RolePrimary    = "primary"
)

// Promotion records how a member last became primary.
type Promotion struct {
	Token           int64   `json:"token"`
	PreviousToken   int64   `json:"previous_token"`
	ReplayedEntries uint64  `json:"replayed_entries"`
	CatchUpMs       float64 `json:"catch_up_ms"`
	FirstWriteMs    float64 `json:"first_write_ms"`
	WonUnixNano     int64   `json:"won_unix_nano"`
	ServingUnixNano int64   `json:"serving_unix_nano"`
}

// MemberStatus is one member's entry of `ctl status`, kept in etcd under the
// member's session lease.
type MemberStatus struct {
	NodeID       string `json:"node_id"`
	Role         string `json:"role"`
	Address      string `json:"address"`
	HTTPAddress  string `json:"http_address"`
	LeaseID      string `json:"lease_id"`
	AppliedIndex uint64 `json:"applied_index"`
	// LastFencedIndex is the log head as this member knows it (the primary
	// writes it; a standby sees it through its watch).
	LastFencedIndex uint64  `json:"last_fenced_index,omitempty"`
	LagEntries      uint64  `json:"lag_entries"`
	LagMs           float64 `json:"lag_ms"`
	CheckpointIndex uint64  `json:"checkpoint_index"`
	// OldestCheckpointIndex is the oldest checkpoint kept on disk: the log
	// is trimmed only below it, so a member whose newest checkpoint is
	// damaged can still fall back to it and replay.
	OldestCheckpointIndex uint64     `json:"oldest_checkpoint_index,omitempty"`
	Token                 int64      `json:"token,omitempty"`
	Digest                string     `json:"digest,omitempty"`
	ReplayError           string     `json:"replay_error,omitempty"`
	LastPromotion         *Promotion `json:"last_promotion,omitempty"`
	// Tags are the member's candidacy (tags.*).
	Tags *Tags `json:"tags,omitempty"`
	// LastSeen is when a down member last refreshed its registry entry.
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

// HistoryRecord is one leadership change, written by the new primary under
// its fencing guard once it serves.
type HistoryRecord struct {
	Time          time.Time `json:"time"`
	NewPrimary    string    `json:"new_primary"`
	Token         int64     `json:"token"`
	PreviousToken int64     `json:"previous_token"`
	// PreviousPrimary is who held PreviousToken, filled in by readers from
	// the record of that token (empty when it is not known).
	PreviousPrimary string `json:"previous_primary,omitempty"`
	Reason          string `json:"reason"`
	Phases          Phases `json:"phases"`
}

// Phases of a failover, in milliseconds. DetectMs is how long the cause
// took to notice (measured by a crash detector; 0 for an operator's or the
// old primary's own action); ElectMs from the old lease's revoke or release
// to this member winning; CatchUpMs and FirstWriteMs this member's own.
// DetectMs, ElectMs and TotalMs are unknown (absent) after a lease expiry,
// where nothing recorded when the old primary stopped.
type Phases struct {
	DetectMs     *float64 `json:"detect_ms,omitempty"`
	ElectMs      *float64 `json:"elect_ms,omitempty"`
	CatchUpMs    float64  `json:"catch_up_ms"`
	FirstWriteMs float64  `json:"first_write_ms"`
	TotalMs      *float64 `json:"total_ms,omitempty"`
}

// Ms converts a duration to fractional milliseconds.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
