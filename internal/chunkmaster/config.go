package chunkmaster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/gfsha/master/internal/meta"
)

// Config tunes the master's chunk management.
type Config struct {
	// Replication is the number of replicas of each chunk (chunk.replication).
	Replication int
	// ChunkSize is the largest size of a chunk (default 64 MiB). Every chunk
	// of a file but the last one is full, so the chunk size must not change
	// while files written with another one exist.
	ChunkSize int64
	// LeaseDuration is how long a chunk lease lives (default 60 s). It is
	// also how long a new primary waits, after it starts serving, before it
	// grants a lease that could conflict with an unreported one granted by
	// its predecessor.
	LeaseDuration time.Duration
	// DeadAfter declares a chunkserver dead after this long without a
	// heartbeat (default 3 s); its replicas are then re-replicated.
	DeadAfter time.Duration
	// ScanInterval is how often the replica set is checked against the
	// namespace for re-replication and garbage collection (default 1 s).
	ScanInterval time.Duration
	// MaxCopies bounds the re-replication copies in flight (default 4).
	MaxCopies int
	Logger    *slog.Logger
	// DialOptions are added to every connection to a chunkserver.
	DialOptions []grpc.DialOption
	// ShadowRead, when set, runs fn on the node's state with the read
	// consistency the request in ctx asks for (rpcserver.Read): Locate on a
	// member that is not the serving primary answers through it, from the
	// advisory location table (shadow.go).
	ShadowRead func(ctx context.Context, fn func(*meta.State) error) error
}

func (c Config) withDefaults() Config {
	if c.Replication <= 0 {
		c.Replication = 3
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 64 << 20
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 60 * time.Second
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = 3 * time.Second
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = time.Second
	}
	if c.MaxCopies <= 0 {
		c.MaxCopies = 4
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// EnvScanInterval tunes how often replicas are checked against the
// namespace (a duration, e.g. 1s). The other settings are config keys
// (chunk.size, chunk.lease, chunk.dead_after), mapped by package server.
const EnvScanInterval = "MASTER_CHUNK_SCAN_INTERVAL"

// WithEnv returns c with the scan interval from the environment, if set.
// The error names the variable and the fix.
func (c Config) WithEnv() (Config, error) {
	if v := os.Getenv(EnvScanInterval); v != "" {
		x, err := time.ParseDuration(v)
		if err != nil || x <= 0 {
			return c, fmt.Errorf("%s=%q: want a positive duration, e.g. 5s", EnvScanInterval, v)
		}
		c.ScanInterval = x
	}
	return c, nil
}
