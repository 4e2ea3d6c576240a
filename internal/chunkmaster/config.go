package chunkmaster

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
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

// Environment variables read by WithEnv. They are named as the keys
// chunk.size, chunk.lease, chunk.dead_after and chunk.scan_interval would
// be named by the config package, which does not define these keys yet.
const (
	EnvChunkSize    = "MASTER_CHUNK_SIZE"          // bytes; suffixes KiB, MiB, GiB allowed
	EnvLease        = "MASTER_CHUNK_LEASE"         // a duration, e.g. 60s
	EnvDeadAfter    = "MASTER_CHUNK_DEAD_AFTER"    // a duration, e.g. 3s
	EnvScanInterval = "MASTER_CHUNK_SCAN_INTERVAL" // a duration, e.g. 1s
)

// WithEnv returns c with the settings found in the environment (see the
// Env constants). The error names the variable and the fix.
func (c Config) WithEnv() (Config, error) {
	if v := os.Getenv(EnvChunkSize); v != "" {
		n, err := ParseSize(v)
		if err != nil || n < 64<<10 || n > 1<<30 {
			return c, fmt.Errorf("%s=%q: want a size from 64KiB to 1GiB, e.g. 64MiB", EnvChunkSize, v)
		}
		c.ChunkSize = n
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{EnvLease, &c.LeaseDuration}, {EnvDeadAfter, &c.DeadAfter}, {EnvScanInterval, &c.ScanInterval}} {
		if v := os.Getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				return c, fmt.Errorf("%s=%q: want a positive duration, e.g. 5s", d.env, v)
			}
			*d.to = x
		}
	}
	return c, nil
}

// ParseSize parses a byte count with an optional KiB, MiB or GiB suffix.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}
