package masterpb

// Read consistency travels in gRPC metadata, beside the request, so that the
// messages stay as they are (as HDFS carries its state id in the RPC header).
//
// A read (Stat, List, Locate) may carry these request metadata keys:
const (
	// MDReadConsistency is "linearizable" (the default), "session" or "stale".
	MDReadConsistency = "gfsha-read-consistency"
	// MDReadIndex (session) is the highest log index the client has seen,
	// in decimal: the member answers once it has applied that far.
	MDReadIndex = "gfsha-read-index"
	// MDReadMaxLagMs (stale) is read.max_lag in milliseconds: a member
	// whose state may be older refuses with UNAVAILABLE.
	MDReadMaxLagMs = "gfsha-read-max-lag-ms"
)

// Every answered read carries these response header keys:
const (
	// MDServedBy is the node_id of the member that answered.
	MDServedBy = "gfsha-served-by"
	// MDAppliedIndex is the log index of the state the answer was read from.
	MDAppliedIndex = "gfsha-applied-index"
	// MDLagMs bounds, in milliseconds, how old that state may be.
	MDLagMs = "gfsha-lag-ms"
)
