package walship

import (
	"fmt"
	"strconv"
	"strings"
)

// Keys names the log's keys under one prefix.
type Keys struct{ Prefix string }

// Batch is the key of the batch starting at first.
func (k Keys) Batch(first uint64) string { return fmt.Sprintf("%s/b/%020d", k.Prefix, first) }

// BatchPrefix is the common prefix of all batch keys.
func (k Keys) BatchPrefix() string { return k.Prefix + "/b/" }

// BatchEnd is the end of the batch key range.
func (k Keys) BatchEnd() string { return k.Prefix + "/b0" }

// Head is the key of the last fenced index.
func (k Keys) Head() string { return k.Prefix + "/head" }

// First is the key of the first index still in the log (absent: 1).
func (k Keys) First() string { return k.Prefix + "/first" }

// WatchPrefix covers batches, head and first.
func (k Keys) WatchPrefix() string { return k.Prefix + "/" }

func formatIndex(i uint64) string { return fmt.Sprintf("%020d", i) }

func parseIndex(v []byte) (uint64, error) {
	i, err := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("head value %q: %w", v, ErrCorrupt)
	}
	return i, nil
}
