package cluster

import (
	"encoding/json"
	"fmt"
	"time"
)

// Roles shown for members that are not running a session.
const (
	// RoleDown is a known member with no live session: it ran before and
	// is gone (crashed, stopped, cut off from etcd). `ctl status` lists it
	// until `ctl remove` forgets it.
	RoleDown = "down"
	// RoleDisconnected is what a running process reports on its own
	// /status while it has no etcd session: it is neither a standby nor
	// able to become one until etcd answers.
	RoleDisconnected = "disconnected"
)

// Known is the prefix of the known-member registry: one key per member
// that ever ran, with no lease, so that a member that is gone stays listed.
func (k Keys) Known() string { return k.Prefix + "/known/" }

// KnownMember is the key of one member in the registry.
func (k Keys) KnownMember(nodeID string) string { return k.Known() + nodeID }

// Tags are a member's candidacy, as Patroni's tags.
type Tags struct {
	// NoFailover: replay and serve reads, never campaign.
	NoFailover bool `json:"nofailover"`
	// FailoverPriority: among candidates at least as caught up, the
	// highest leads.
	FailoverPriority int `json:"failover_priority"`
}

// KnownRecord is a member's registry entry, refreshed while it runs.
type KnownRecord struct {
	NodeID      string    `json:"node_id"`
	Address     string    `json:"address"`
	HTTPAddress string    `json:"http_address"`
	LastSeen    time.Time `json:"last_seen"`
	Tags        Tags      `json:"tags"`
}

// Encode returns the JSON form.
func (r KnownRecord) Encode() []byte { b, _ := json.Marshal(r); return b }

// DecodeKnownRecord parses a registry value.
func DecodeKnownRecord(b []byte) (KnownRecord, error) {
	var r KnownRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("cluster: known member %q: %w", b, err)
	}
	return r, nil
}
