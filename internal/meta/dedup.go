package meta

import (
	"strings"
	"unicode/utf8"
)

// MaxClients bounds the dedup table. When a new client would exceed it, the
// client whose last op was applied longest ago (lowest log index) is
// forgotten; since that depends only on the log, every replica forgets the
// same one.
const MaxClients = 100_000

// client is one dedup record: the last op applied for a ClientID and its
// Result. Records form a list ordered by index, oldest first.
type client struct {
	id         string
	seq        uint64 // Seq of the last op applied for id
	index      uint64 // log index it was applied at; unique per record
	code       uint8  // Result.Err as a sentinel code (0: nil) ...
	msg        string // ... and its message
	handle     uint64
	version    uint64
	prev, next *client
}

func (c *client) result() Result {
	return Result{Err: recordError(c.code, c.msg), Handle: c.handle, Version: c.version}
}

// dedupTable maps client ids to their records and keeps the records in a list
// by ascending index, so the oldest is evicted in O(1).
type dedupTable struct {
	limit      int
	clients    map[string]*client
	head, tail *client // oldest, newest
}

func newDedupTable(limit int) dedupTable {
	return dedupTable{limit: limit, clients: make(map[string]*client)}
}

// record makes (seq, res) the last op of client id, applied at index, which
// is above every index already in the table.
func (t *dedupTable) record(id string, seq, index uint64, res Result) {
	c := t.clients[id]
	if c != nil {
		t.unlink(c)
	} else {
		if len(t.clients) >= t.limit {
			oldest := t.head
			t.unlink(oldest)
			delete(t.clients, oldest.id)
		}
		c = &client{id: strings.Clone(id)}
		t.clients[c.id] = c
	}
	c.seq, c.index = seq, index
	c.code, c.msg = errCode(res.Err), ""
	if res.Err != nil {
		c.msg = truncateMsg(res.Err.Error())
	}
	c.handle, c.version = res.Handle, res.Version
	t.pushBack(c)
}

func (t *dedupTable) unlink(c *client) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		t.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		t.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

func (t *dedupTable) pushBack(c *client) {
	c.prev = t.tail
	if t.tail != nil {
		t.tail.next = c
	} else {
		t.head = c
	}
	t.tail = c
}

// Dedup returns the remembered Result of client clientID if seq is the last
// Seq applied for it, which is what Apply answers to a retry of that op.
func (s *State) Dedup(clientID string, seq uint64) (Result, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.dedup.clients[clientID]
	if c == nil || c.seq != seq {
		return Result{}, false
	}
	return c.result(), true
}

// Replay returns the remembered Result of op if it is a retry that Apply
// would answer from memory (the last Seq of its session's lane, or of its
// legacy client id).
func (s *State) Replay(op Op) (Result, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if op.Session != 0 {
		if outcome, res, _ := s.sessionLocked(op); outcome == replay {
			return res, true
		}
		return Result{}, false
	}
	if outcome, res := s.dedupLocked(op); outcome == replay {
		return res, true
	}
	return Result{}, false
}

// maxMsgLen bounds a remembered error message. Messages quote at most a few
// paths, each cut by showPath, so they stay far below it; the cut only
// guarantees that Restore accepts every table Snapshot writes.
const maxMsgLen = 16 << 10

func truncateMsg(msg string) string {
	if len(msg) <= maxMsgLen {
		return msg
	}
	n := maxMsgLen
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n]
}
