package cluster

import "time"

// Control keys, under Keys.Control().
const (
	// ControlPaused holds a PauseRecord while maintenance mode is on.
	ControlPaused = "paused"
	// ControlSwitchover holds a SwitchoverRecord during a switchover
	// (attached to a short lease).
	ControlSwitchover = "switchover"
	// ControlHandover holds a HandoverRecord: why the last primary let go,
	// written just before it did (attached to a short lease).
	ControlHandover = "handover"
)

// PauseRecord marks maintenance mode: no automatic failover.
type PauseRecord struct {
	Since time.Time `json:"since"`
	By    string    `json:"by,omitempty"`
}

// SwitchoverRecord names the member a switchover hands leadership to.
type SwitchoverRecord struct {
	From  string    `json:"from"`
	To    string    `json:"to"`
	Token int64     `json:"token"`
	At    time.Time `json:"at"`
}

// HandoverRecord says why a primary let go: "revoke" (ctl failover),
// "switchover", "shutdown", "restart" (its next incarnation revoked its
// lease), "crash" (a standby saw its address refuse connections).
type HandoverRecord struct {
	Reason string    `json:"reason"`
	From   string    `json:"from"`
	Token  int64     `json:"token"`
	At     time.Time `json:"at"` // when the lease was revoked or let go
	// DetectMs: how long the cause took to notice, on its own monotonic
	// clock (a crash: from the connection breaking to the revoke).
	DetectMs *float64 `json:"detect_ms,omitempty"`
}
