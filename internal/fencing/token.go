package fencing

import (
	"errors"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Token is a fencing token: the etcd create revision of a leader key.
// The zero Token is never held by a leader.
type Token int64

// String returns the token in decimal.
func (t Token) String() string { return strconv.FormatInt(int64(t), 10) }

// Sentinel errors.
var (
	// ErrStaleToken reports a command carrying a token older than one already seen.
	ErrStaleToken = errors.New("fencing: stale token")
	// ErrNoToken reports a command that carries no token at all.
	ErrNoToken = errors.New("fencing: missing token")
)

// Guard returns the comparison that makes an etcd transaction succeed only
// while leaderKey still exists with the given create revision. Every
// leader-only write must include it in its If clause.
func Guard(leaderKey string, t Token) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(leaderKey), "=", int64(t))
}

// StaleError builds the error for a command whose token is older than the
// highest one seen; it names both tokens and wraps ErrStaleToken.
func StaleError(got, highest Token) error {
	return fmt.Errorf("token %d is older than token %d already seen (a newer primary exists; follow it): %w", got, highest, ErrStaleToken)
}
