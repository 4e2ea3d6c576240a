package meta

import (
	"fmt"
	"strings"
	"time"
)

// Client sessions, registered in the log (Ongaro's thesis, §6.3).
//
// A client registers a session with OpRegisterSession; the session's id is
// the log index of that entry, so ids are unique for ever and a session the
// table does not hold is known to be expired (or never registered), never
// mistaken for a new one. Each mutation then names its session, a lane
// (Op.ClientID: one per concurrent call of the client) and a sequence number
// on that lane. The table keeps, per lane, the last Seq applied and its
// Result, and answers a retry of that Seq from memory.
//
// Sessions expire by LOG time, never by a replica's own clock: every log
// entry carries the time its primary stamped on the batch (ApplyAt), the
// state keeps the highest such time seen (its clock), and a session idle for
// SessionTimeout of that clock is forgotten the same way on every replica.
// Under the count limits whole sessions are evicted, the least recently
// active first. A retry naming a session the table no longer holds fails
// with ErrSessionExpired and is never executed: its first attempt may or may
// not have run.
const (
	// SessionTimeout: a session with no op for this long (log time) expires.
	SessionTimeout = time.Hour
	// MaxSessions bounds the live sessions; registering one more evicts the
	// least recently active.
	MaxSessions = 1 << 16
	// MaxLanes bounds the lane records of all sessions together; a new lane
	// beyond it evicts whole sessions, least recently active first.
	MaxLanes = 1 << 18
	// MaxLanesPerSession bounds the lanes of one session (its client's
	// concurrent calls); an op opening one more fails with ErrBadOp.
	MaxLanesPerSession = 1 << 14
)

// sessionLimits are the table's bounds (the constants above; smaller in
// tests).
type sessionLimits struct {
	sessions, lanes, perSession int
	timeout                     int64 // nanoseconds of log time
}

var defaultSessionLimits = sessionLimits{
	sessions: MaxSessions, lanes: MaxLanes, perSession: MaxLanesPerSession,
	timeout: int64(SessionTimeout),
}

// laneRecord is the last op applied on one lane and its Result.
type laneRecord struct {
	seq     uint64
	code    uint8 // Result.Err as a sentinel code (0: nil) ...
	msg     string
	handle  uint64
	version uint64
}

func (l *laneRecord) result() Result {
	return Result{Err: recordError(l.code, l.msg), Handle: l.handle, Version: l.version}
}

// session is one registered session. Sessions form a list ordered by last
// activity (log time, then apply order), least recent first.
type session struct {
	id         uint64 // the log index of its OpRegisterSession
	active     int64  // log time (unix ns) of its last op
	lanes      map[string]*laneRecord
	prev, next *session
}

// sessionTable holds the live sessions.
type sessionTable struct {
	limits     sessionLimits
	byID       map[uint64]*session
	head, tail *session // least, most recently active
	lanes      int      // lane records over all sessions
}

func newSessionTable(l sessionLimits) sessionTable {
	return sessionTable{limits: l, byID: make(map[uint64]*session)}
}

func (t *sessionTable) unlink(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		t.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		t.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (t *sessionTable) pushBack(s *session) {
	s.prev = t.tail
	if t.tail != nil {
		t.tail.next = s
	} else {
		t.head = s
	}
	t.tail = s
}

func (t *sessionTable) evict(s *session) {
	t.unlink(s)
	delete(t.byID, s.id)
	t.lanes -= len(s.lanes)
}

// touch marks s active at log time now (never before its last activity).
func (t *sessionTable) touch(s *session, now int64) {
	s.active = max(s.active, now)
	t.unlink(s)
	t.pushBack(s)
}

// expire forgets the sessions idle for the timeout at log time now.
func (t *sessionTable) expire(now int64) {
	for t.head != nil && now-t.head.active >= t.limits.timeout {
		t.evict(t.head)
	}
}

// register adds session id, active at now, evicting the least recently
// active session if the table is full.
func (t *sessionTable) register(id uint64, now int64) {
	for len(t.byID) >= t.limits.sessions && t.head != nil {
		t.evict(t.head)
	}
	s := &session{id: id, active: now, lanes: make(map[string]*laneRecord)}
	t.byID[id] = s
	t.pushBack(s)
}

// record makes (seq, res) the last op of lane in s, then brings the table
// under its lane limit by evicting other sessions, least recent first.
func (t *sessionTable) record(s *session, lane string, seq uint64, res Result) {
	l := s.lanes[lane]
	if l == nil {
		l = &laneRecord{}
		s.lanes[strings.Clone(lane)] = l
		t.lanes++
	}
	l.seq = seq
	l.code, l.msg = errCode(res.Err), ""
	if res.Err != nil {
		l.msg = truncateMsg(res.Err.Error())
	}
	l.handle, l.version = res.Handle, res.Version
	for t.lanes > t.limits.lanes && t.head != nil && t.head != s {
		t.evict(t.head)
	}
}

// sessionLocked decides whether a session op runs, and if not, gives its
// Result. The session is nil when op's session is unknown.
func (s *State) sessionLocked(op Op) (dedupOutcome, Result, *session) {
	if len(op.ClientID) > MaxClientIDLen {
		return reject, Result{Err: fmt.Errorf("%s: lane id is %d bytes long; the limit is %d: %w",
			op.Type, len(op.ClientID), MaxClientIDLen, ErrBadOp)}, nil
	}
	ss := s.sessions.byID[op.Session]
	if ss == nil {
		return reject, Result{Err: fmt.Errorf("%s: session %d is unknown or expired (sessions expire after %v without an op, or when %d newer ones are active); "+
			"if this is a retry, its first attempt may or may not have been applied: check before repeating it, under a new session: %w",
			op.Type, op.Session, time.Duration(s.sessions.limits.timeout), s.sessions.limits.sessions, ErrSessionExpired)}, nil
	}
	l := ss.lanes[op.ClientID]
	switch {
	case l == nil && len(ss.lanes) >= s.sessions.limits.perSession:
		return reject, Result{Err: fmt.Errorf("%s: session %d already has %d lanes (concurrent calls); the limit is %d: finish calls before starting more: %w",
			op.Type, op.Session, len(ss.lanes), s.sessions.limits.perSession, ErrBadOp)}, ss
	case l == nil || op.Seq > l.seq:
		return run, Result{}, ss
	case op.Seq == l.seq:
		return replay, l.result(), ss
	default:
		return reject, Result{Err: fmt.Errorf("%s: session %d lane %s seq %d: seq %d was already applied; retry with a seq above it: %w",
			op.Type, op.Session, showPath(op.ClientID), op.Seq, l.seq, ErrStale)}, ss
	}
}

// Sessions returns the number of live sessions and of their lane records.
func (s *State) Sessions() (sessions, lanes int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions.byID), s.sessions.lanes
}

// LogTime returns the state's clock: the highest batch time applied so far
// (the zero time before any).
func (s *State) LogTime() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.clock == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.clock)
}
