package fencing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Highest is a persisted "highest token seen" guard, as a chunkserver keeps it.
// It is safe for concurrent use.
type Highest struct {
	path string

	mu      sync.Mutex // guards highest and file writes
	highest Token
}

// OpenHighest loads the guard stored at path, or starts at zero when the file
// does not exist. A file that exists but cannot be parsed is an error: the
// guard never silently forgets a token.
func OpenHighest(path string) (*Highest, error) {
	h := &Highest{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return h, nil
	case err != nil:
		return nil, fmt.Errorf("fencing: read %s: %w", path, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v < 0 {
		return nil, fmt.Errorf("fencing: %s holds %q, not a token; restore it from a backup or remove it only if no primary ever reached this node", path, b)
	}
	h.highest = Token(v)
	return h, nil
}

// Current returns the highest token seen so far.
func (h *Highest) Current() Token {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.highest
}

// Observe admits a command carrying token t. It fails with ErrStaleToken when
// t is older than the highest token seen. A newer token is persisted (written
// to a temporary file, fsynced, renamed, directory fsynced) before Observe
// returns, so it survives a crash.
func (h *Highest) Observe(t Token) error {
	if t <= 0 {
		return ErrNoToken
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case t < h.highest:
		return StaleError(t, h.highest)
	case t == h.highest:
		return nil
	}
	if err := h.persistLocked(t); err != nil {
		return err
	}
	h.highest = t
	return nil
}

func (h *Highest) persistLocked(t Token) error {
	dir := filepath.Dir(h.path)
	tmp, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return fmt.Errorf("fencing: persist token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(t.String() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("fencing: persist token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fencing: persist token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fencing: persist token: %w", err)
	}
	if err := os.Rename(tmp.Name(), h.path); err != nil {
		return fmt.Errorf("fencing: persist token: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fencing: persist token: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fencing: persist token: %w", err)
	}
	return nil
}
