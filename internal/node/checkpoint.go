package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/checkpoint"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/fencing"
	"github.com/gfsha/master/internal/walship"
)

// FetchFunc streams the newest checkpoint of the peer at addr into w; the
// peer writes a fresh one first if its newest is older than minIndex.
type FetchFunc func(ctx context.Context, addr string, minIndex uint64, w io.Writer) error

// errNeedCheckpoint: replay cannot go on from the local state (the log was
// trimmed past it); a checkpoint must be fetched from a peer first.
var errNeedCheckpoint = errors.New("master: log trimmed past this member's state; fetching a checkpoint")

// restore loads the newest valid local checkpoint, if any.
func (n *Node) restore() error {
	if n.store == nil {
		return nil
	}
	info, err := n.store.Load(n.state)
	switch {
	case errors.Is(err, checkpoint.ErrNone):
		return nil
	case err != nil:
		return err
	}
	n.mu.Lock()
	n.lastToken = info.Token
	n.mu.Unlock()
	n.ckptIndex.Store(info.Index)
	n.noteOldestCheckpoint()
	return nil
}

// noteOldestCheckpoint records the oldest checkpoint kept on disk that the
// log can still replay from (index >= the log's first index - 1), or 0 when
// there is none: members publish it and the primary trims below it, so an
// unreplayable one must never be counted.
func (n *Node) noteOldestCheckpoint() {
	list, err := n.store.List()
	if err != nil {
		return
	}
	oldest := uint64(0)
	for _, c := range list { // newest first
		if c.Index+1 >= n.logFirst.Load() {
			oldest = c.Index
		}
	}
	n.ckptOldest.Store(oldest)
}

// noteLogFirst records the log's first index as learned from etcd (it only
// grows) and recounts the checkpoints replay can start from.
func (n *Node) noteLogFirst(first uint64) {
	for {
		old := n.logFirst.Load()
		if first <= old || n.logFirst.CompareAndSwap(old, first) {
			break
		}
	}
	if n.store != nil {
		n.noteOldestCheckpoint()
	}
}

// Checkpoint writes a checkpoint of the current state now and returns its
// index (the existing one when nothing was applied since).
func (n *Node) Checkpoint() (uint64, error) {
	if n.store == nil {
		return 0, fmt.Errorf("master: no data_dir: checkpoints are off")
	}
	n.ckptMu.Lock()
	defer n.ckptMu.Unlock()
	if n.state.AppliedIndex() == n.ckptIndex.Load() && n.ckptIndex.Load() != 0 {
		return n.ckptIndex.Load(), nil
	}
	// The token first: it must be no newer than the snapshot's last record.
	n.mu.Lock()
	tok := n.lastToken
	n.mu.Unlock()
	info, err := n.store.Save(n.state, tok)
	if err != nil {
		return 0, err
	}
	n.ckptIndex.Store(info.Index)
	n.ckptAt.Store(time.Now().UnixNano())
	if err := n.store.Prune(); err != nil {
		n.log.Warn("pruning old checkpoints", "err", err)
	}
	n.noteOldestCheckpoint()
	// Publish at once: the primary trims by the indexes members publish.
	if err := n.publishOnce(context.Background(), true); err != nil {
		n.kickStatus()
	}
	return info.Index, nil
}

// OpenCheckpoint opens the newest local checkpoint for a peer, writing a
// new one first when the newest is older than minIndex (the peer needs
// records that were trimmed from the log).
func (n *Node) OpenCheckpoint(minIndex uint64) (io.ReadCloser, checkpoint.Info, error) {
	if n.store == nil {
		return nil, checkpoint.Info{}, checkpoint.ErrNone
	}
	if n.ckptIndex.Load() < minIndex && n.state.AppliedIndex() >= minIndex {
		n.log.Info("a peer needs a newer checkpoint than this member holds; writing one", "need", minIndex)
		if _, err := n.Checkpoint(); err != nil {
			return nil, checkpoint.Info{}, err
		}
	}
	f, info, err := n.store.OpenLatest()
	if err != nil {
		return nil, info, err
	}
	return f, info, nil
}

// checkpointLoop writes a checkpoint every CheckpointEntries applied
// entries (at most once per CheckpointInterval). The primary leaves it to
// standbys when it has any, so that its writes never wait for a snapshot.
func (n *Node) checkpointLoop(ctx context.Context) {
	tick := time.NewTicker(n.cfg.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n.state.AppliedIndex() < n.ckptIndex.Load()+n.cfg.CheckpointEntries {
			continue
		}
		if n.Role() == cluster.RolePrimary && n.liveStandbys(ctx) > 0 {
			continue
		}
		if _, err := n.Checkpoint(); err != nil {
			n.log.Warn("checkpoint failed", "err", err)
		}
	}
}

// members reads every live member's status record.
func (n *Node) members(ctx context.Context) ([]cluster.MemberStatus, error) {
	r, err := n.cfg.Client.Get(ctx, n.cfg.Keys.Members(), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var out []cluster.MemberStatus
	for _, kv := range r.Kvs {
		var m cluster.MemberStatus
		if json.Unmarshal(kv.Value, &m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (n *Node) liveStandbys(ctx context.Context) int {
	ms, err := n.members(ctx)
	if err != nil {
		return 0
	}
	c := 0
	for _, m := range ms {
		if m.NodeID != n.cfg.NodeID && m.ReplayError == "" {
			c++
		}
	}
	return c
}

// trimLoop, on the primary, trims the log below the newest checkpoint that
// every live member holds, then (if configured) compacts etcd's history.
func (n *Node) trimLoop(ctx context.Context) {
	tick := time.NewTicker(n.cfg.TrimInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n.Role() != cluster.RolePrimary {
			continue
		}
		if _, err := n.Trim(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("trim failed", "err", err)
		}
	}
}

// Trim trims the log now (primary only) and returns the first index kept.
func (n *Node) Trim(ctx context.Context) (uint64, error) {
	n.mu.Lock()
	l := n.lead
	n.mu.Unlock()
	if l == nil {
		return 0, n.notPrimary()
	}
	ms, err := n.members(ctx)
	if err != nil {
		return 0, err
	}
	// Below the OLDEST checkpoint every member keeps (its newest may turn
	// out damaged; it falls back to the one before and replays from
	// there). Among standbys only: the primary writes none while it has
	// them, and were it to restart it would fetch one. Alone, its own.
	upTo, others := uint64(0), 0
	for _, m := range ms {
		if m.NodeID == n.cfg.NodeID {
			continue
		}
		oldest := m.OldestCheckpointIndex
		if oldest == 0 || oldest > m.CheckpointIndex {
			oldest = m.CheckpointIndex
		}
		if others == 0 || oldest < upTo {
			upTo = oldest
		}
		others++
	}
	if others == 0 {
		upTo = n.ckptOldest.Load()
	}
	if upTo == 0 || upTo <= n.trimmedTo.Load() {
		return n.trimmedTo.Load() + 1, nil
	}
	first, rev, err := walship.Trim(ctx, n.cfg.Client, n.cfg.Keys.WAL(), fencing.Guard(l.Key(), l.Token()), upTo)
	if err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, fmt.Errorf("master: trim below %d returned no first index", upTo)
	}
	n.trimmedTo.Store(first - 1)
	n.noteLogFirst(first)
	if rev == 0 {
		// Nothing deleted: the bound is below the log's start (a member
		// still publishes an older checkpoint). Try again next time.
		return first, nil
	}
	n.log.Info("log trimmed", "below", first, "checkpoints", upTo)
	if n.cfg.Compact && rev > 0 {
		if _, err := n.cfg.Client.Compact(ctx, rev); err != nil {
			n.log.Warn("etcd compaction failed", "rev", rev, "err", err)
		}
	}
	return first, nil
}

// fetchCheckpoint streams the newest checkpoint from a peer that holds one
// recent enough, verifies and stores it, and loads it.
func (n *Node) fetchCheckpoint(ctx context.Context) error {
	if n.store == nil || n.cfg.Fetch == nil {
		return fmt.Errorf("master: the log was trimmed past this member and it cannot fetch checkpoints (no data_dir)")
	}
	first, err := walship.ReadFirst(ctx, n.cfg.Client, n.cfg.Keys.WAL())
	if err != nil {
		return err
	}
	ms, err := n.members(ctx)
	if err != nil {
		return err
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].CheckpointIndex > ms[j].CheckpointIndex })
	for _, m := range ms {
		// A peer whose checkpoints are older than the log's start writes a
		// fresh one on request.
		if m.NodeID == n.cfg.NodeID || m.Address == "" || m.ReplayError != "" {
			continue
		}
		start := time.Now()
		n.log.Info("fetching checkpoint", "from", m.NodeID, "index", m.CheckpointIndex)
		pr, pw := io.Pipe()
		errc := make(chan error, 1)
		go func() {
			err := n.cfg.Fetch(ctx, m.Address, first-1, pw)
			pw.CloseWithError(err)
			errc <- err
		}()
		info, err := n.store.SaveFrom(pr)
		pr.CloseWithError(err)
		if ferr := <-errc; err == nil && ferr != nil {
			err = ferr
		}
		if err != nil {
			n.log.Warn("checkpoint fetch failed", "from", m.NodeID, "err", err)
			continue
		}
		// Local checkpoints below the log's start can never be replayed
		// from: drop them, or one would stay counted as this member's
		// oldest and hold trimming back until two more are written.
		n.noteLogFirst(first)
		if err := n.store.PruneBelow(first - 1); err != nil {
			n.log.Warn("dropping checkpoints the log can no longer reach", "err", err)
		}
		if err := n.restore(); err != nil {
			return err
		}
		n.log.Info("checkpoint fetched and loaded", "from", m.NodeID, "index", info.Index, "took", time.Since(start))
		return nil
	}
	return fmt.Errorf("master: no live member holds a checkpoint at or after index %d", first-1)
}
