//go:build faults

package e2e

import (
	"flag"
	"testing"
	"time"
)

var faultsDuration = flag.Duration("faults.duration", 10*time.Minute, "how long TestFaultSuite injects faults")

// longSuite injects random faults for d under a heavier workload, with
// longer pauses between faults and faults held longer.
func longSuite(d time.Duration) suiteConfig {
	return suiteConfig{
		Duration: d, Masters: 3, Groups: 4, Workers: 3, Clients: 4, EpochOps: 40,
		Think: 20 * time.Millisecond, Gap: [2]time.Duration{time.Second, 4 * time.Second},
		Hold: 2 * time.Second, Data: *faultsData, CheckTimeout: 5 * time.Minute,
	}
}

// TestFaultSuite is the long run of the fault suite (see
// TestFaultSuiteShort): faults of random kinds, one after another, for
// -faults.duration.
//
//	go test -tags faults -run 'TestFaultSuite$' -timeout 60m -v ./test/e2e/ -faults.duration 10m
func TestFaultSuite(t *testing.T) {
	runFaultSuite(t, longSuite(*faultsDuration))
}
