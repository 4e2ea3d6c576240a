package meta

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result is the outcome of applying one op.
type Result struct {
	Err     error  // nil, or an error wrapping one of the sentinels
	Handle  uint64 // OpAddChunk, OpSetChunkVersion: the chunk's handle
	Version uint64 // OpAddChunk, OpSetChunkVersion: the chunk's version now
	Session uint64 // OpRegisterSession: the new session's id (its log index)
}

// Chunk is one chunk of a file.
type Chunk struct {
	Handle  uint64
	Version uint64
}

// Entry describes one file or directory, as Stat and List return it.
type Entry struct {
	Path   string  // absolute, cleaned
	Name   string  // last element ("/" for the root)
	Dir    bool    // a directory
	Size   int64   // files only
	Chunks []Chunk // files only, in file order; a copy the caller may keep
	Mtime  int64   // last modification, Unix nanoseconds; 0 if never stamped (see Op.Mtime)
}

// node is a file or a directory. It does not know its own name or parent:
// the name is the key in the parent's children map, which keeps per-file
// memory small and makes a rename of a directory O(1).
type node struct {
	children map[string]*node // non-nil if and only if the node is a directory
	chunks   []Chunk          // files: in append order, so with ascending handles
	size     int64            // files
	mtime    int64            // Unix nanoseconds, from the log (Op.Mtime)
}

func (n *node) dir() bool { return n.children != nil }

// touch sets the node's modification time to mtime, unless mtime is 0 (an
// op logged without a time).
func (n *node) touch(mtime int64) {
	if mtime != 0 {
		n.mtime = mtime
	}
}

func newDir() *node { return &node{children: make(map[string]*node)} }

// State is the metadata state machine. Apply and Restore change it and must
// be called from one goroutine at a time; every other method may be called
// concurrently with them and with each other.
type State struct {
	mu sync.RWMutex // guards all fields below: held for writing by Apply and Restore (swap only), for reading by everything else

	root       *node
	applied    uint64           // index of the last log entry applied
	nextHandle uint64           // handle the next OpAddChunk allocates; starts at 1
	files      int              // number of files
	dirs       int              // number of directories, the root included
	handles    map[uint64]*node // chunk handle -> the file holding it
	dedup      dedupTable       // legacy client ids (ops without a session)
	clock      int64            // log time: the highest batch time applied (unix ns)
	sessions   sessionTable
}

// New returns an empty state: only the root directory, AppliedIndex 0, next
// chunk handle 1.
func New() *State {
	return &State{
		root:       newDir(),
		nextHandle: 1,
		dirs:       1,
		handles:    make(map[uint64]*node),
		dedup:      newDedupTable(MaxClients),
		sessions:   newSessionTable(defaultSessionLimits),
	}
}

// AppliedIndex returns the index of the last log entry applied (0 for none).
func (s *State) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Files returns the number of files.
func (s *State) Files() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.files
}

// Dirs returns the number of directories, counting the root (so New().Dirs()
// is 1).
func (s *State) Dirs() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.dirs
}

// Check validates op against the current state without changing it, so that
// a primary can reject a bad request before logging it. It returns the error
// Apply would put in Result.Err if op were the next entry, with two
// exceptions that concern the log, not the op: Check ignores the index, and
// for a retry that the dedup table will answer (ClientID set, Seq equal to the
// last one applied for it) it returns nil, whatever the remembered Result.
// And Check also holds the names op creates to ValidateNewPath (no control
// characters, valid UTF-8), which Apply does not, so that a log written
// before that rule replays exactly as it did: every new op passes Check on
// the primary before it is logged.
func (s *State) Check(op Op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	outcome, res := s.dedupLocked(op)
	if op.Session != 0 && op.Type != OpRegisterSession {
		outcome, res, _ = s.sessionLocked(op)
	}
	switch outcome {
	case replay:
		return nil
	case reject:
		return res.Err
	}
	if err := checkNewNames(op); err != nil {
		return err
	}
	_, err := s.planLocked(op)
	return err
}

// Apply applies op as log entry index. index must be AppliedIndex()+1;
// otherwise Apply changes nothing and returns an error wrapping ErrIndex.
// Any other outcome consumes the entry: AppliedIndex becomes index even when
// op fails, and a failing op changes nothing else (apart from the dedup
// record below), the same way on every replica.
//
// With op.ClientID set, a Seq equal to the last one applied for that client
// returns the remembered Result without running op again; a lower Seq returns
// an error wrapping ErrStale; otherwise op runs and its Result (success or
// failure) becomes the client's record.
//
// Apply must not be called concurrently with itself or with Restore.
// Apply does not advance the log time; ApplyAt does.
func (s *State) Apply(index uint64, op Op) Result {
	return s.ApplyAt(index, time.Time{}, op)
}

// ApplyAt is Apply for an entry whose batch the primary stamped with time
// at (its wall clock). The state's clock becomes the highest time applied so
// far (a zero or earlier time leaves it), and sessions idle for
// SessionTimeout of that clock expire before op runs. Time comes only from
// the log, so every replica expires the same sessions at the same entry.
//
// With op.Session set, op belongs to lane op.ClientID of that session:
// a Seq equal to the lane's last returns the remembered Result without
// running op again, a lower Seq fails with ErrStale, and an unknown or
// expired session fails with ErrSessionExpired without running op.
func (s *State) ApplyAt(index uint64, at time.Time, op Op) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkIndexLocked(index); err != nil {
		return Result{Err: err}
	}
	s.applied = index
	s.advanceClockLocked(at)
	if op.Type == OpRegisterSession {
		s.sessions.register(index, s.clock)
		return Result{Session: index}
	}
	if op.Session != 0 {
		outcome, res, ss := s.sessionLocked(op)
		if ss != nil {
			s.sessions.touch(ss, s.clock)
		}
		if outcome != run {
			return res
		}
		res = s.runLocked(op)
		s.sessions.record(ss, op.ClientID, op.Seq, res)
		return res
	}
	if outcome, res := s.dedupLocked(op); outcome != run {
		return res
	}
	res := s.runLocked(op)
	if op.ClientID != "" {
		s.dedup.record(op.ClientID, op.Seq, index, res)
	}
	return res
}

// runLocked plans and executes op.
func (s *State) runLocked(op Op) Result {
	p, err := s.planLocked(op)
	if err != nil {
		return Result{Err: err}
	}
	return s.execLocked(op, p)
}

// advanceClockLocked moves the log time forward to at and expires idle
// sessions.
func (s *State) advanceClockLocked(at time.Time) {
	if at.IsZero() {
		return
	}
	if ns := at.UnixNano(); ns > s.clock {
		s.clock = ns
	}
	s.sessions.expire(s.clock)
}

// ApplyEncoded decodes data with UnmarshalOp and applies it as entry index.
// A malformed encoding consumes the entry (AppliedIndex becomes index) and
// returns an error wrapping ErrBadOp; a wrong index changes nothing and
// returns an error wrapping ErrIndex.
func (s *State) ApplyEncoded(index uint64, data []byte) Result {
	return s.ApplyEncodedAt(index, time.Time{}, data)
}

// ApplyEncodedAt is ApplyEncoded with the entry's log time (see ApplyAt).
func (s *State) ApplyEncodedAt(index uint64, at time.Time, data []byte) Result {
	op, err := UnmarshalOp(data)
	if err == nil {
		return s.ApplyAt(index, at, op)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkIndexLocked(index); err != nil {
		return Result{Err: err}
	}
	s.applied = index
	s.advanceClockLocked(at)
	return Result{Err: fmt.Errorf("apply entry %d: %w", index, err)}
}

func (s *State) checkIndexLocked(index uint64) error {
	if index != s.applied+1 {
		return fmt.Errorf("apply entry %d: the next entry is %d (applied up to %d): %w",
			index, s.applied+1, s.applied, ErrIndex)
	}
	return nil
}

// dedupOutcome says what the dedup table makes of an op.
type dedupOutcome int

const (
	run    dedupOutcome = iota // run the op
	replay                     // a retry of the client's last op: answer with its remembered Result
	reject                     // a stale retry or an unusable client id: answer with an error
)

// dedupLocked decides whether op runs, and if not, gives its Result.
func (s *State) dedupLocked(op Op) (dedupOutcome, Result) {
	if op.ClientID == "" {
		return run, Result{}
	}
	if len(op.ClientID) > MaxClientIDLen {
		return reject, Result{Err: fmt.Errorf("%s: client id is %d bytes long; the limit is %d: %w",
			op.Type, len(op.ClientID), MaxClientIDLen, ErrBadOp)}
	}
	c := s.dedup.clients[op.ClientID]
	switch {
	case c == nil || op.Seq > c.seq:
		return run, Result{}
	case op.Seq == c.seq:
		return replay, c.result()
	default:
		return reject, Result{Err: fmt.Errorf("%s: client %s seq %d: seq %d was already applied; retry with a seq above it: %w",
			op.Type, showPath(op.ClientID), op.Seq, c.seq, ErrStale)}
	}
}

// plan is what planLocked found for an op that can be applied: the nodes
// execLocked changes, so that it need not look them up again.
type plan struct {
	parent  *node  // parent directory of Path (mkdir, create, delete, rename)
	name    string // last element of Path
	n       *node  // the node at Path, or the chunk's file (set-chunk-version)
	parent2 *node  // rename: parent directory of Path2
	name2   string // rename: last element of Path2
	chunk   int    // set-chunk-version: index in n.chunks
}

// planLocked validates op against the state and returns what to change.
// It is the single source of the errors of both Check and Apply, which is
// what makes them agree.
func (s *State) planLocked(op Op) (plan, error) {
	var p plan
	switch op.Type {
	case OpNoop, OpRegisterSession:
		return p, nil
	case OpMkdir, OpCreate:
		if err := validateOpPath(op.Type, op.Path); err != nil {
			return p, err
		}
		if op.Path == "/" {
			return p, fmt.Errorf("%s /: the root directory always exists: %w", op.Type, ErrExists)
		}
		parent, name, err := s.parentLocked(op.Type.String(), op.Path)
		if err != nil {
			return p, err
		}
		if parent.children[name] != nil {
			return p, fmt.Errorf("%s %s: path already exists: %w", op.Type, showPath(op.Path), ErrExists)
		}
		p.parent, p.name = parent, name
		return p, nil
	case OpDelete:
		if err := validateOpPath(op.Type, op.Path); err != nil {
			return p, err
		}
		if op.Path == "/" {
			return p, fmt.Errorf("delete /: the root directory cannot be deleted: %w", ErrInvalidPath)
		}
		parent, name, err := s.parentLocked(op.Type.String(), op.Path)
		if err != nil {
			return p, err
		}
		n := parent.children[name]
		if n == nil {
			return p, fmt.Errorf("delete %s: no such file or directory: %w", showPath(op.Path), ErrNotFound)
		}
		if n.dir() && len(n.children) > 0 {
			return p, fmt.Errorf("delete %s: directory has %d entries; delete them first: %w",
				showPath(op.Path), len(n.children), ErrNotEmpty)
		}
		p.parent, p.name, p.n = parent, name, n
		return p, nil
	case OpRename:
		return s.planRenameLocked(op)
	case OpAddChunk, OpSetSize, OpGrowSize:
		if (op.Type == OpSetSize || op.Type == OpGrowSize) && op.Size < 0 {
			return p, fmt.Errorf("%s %s: size %d is negative; give a size >= 0: %w",
				op.Type, showPath(op.Path), op.Size, ErrBadOp)
		}
		n, err := s.fileLocked(op.Type.String(), op.Path)
		if err != nil {
			return p, err
		}
		if op.Type == OpAddChunk && s.nextHandle == 0 {
			return p, fmt.Errorf("add-chunk %s: chunk handle space exhausted: %w", showPath(op.Path), ErrBadChunk)
		}
		p.n = n
		return p, nil
	case OpSetChunkVersion:
		n := s.handles[op.Handle]
		if n == nil {
			return p, fmt.Errorf("set-chunk-version %d: no chunk has this handle: %w", op.Handle, ErrBadChunk)
		}
		i, _ := slices.BinarySearchFunc(n.chunks, op.Handle, func(c Chunk, h uint64) int {
			return cmp.Compare(c.Handle, h)
		})
		if cur := n.chunks[i].Version; op.Version <= cur {
			return p, fmt.Errorf("set-chunk-version %d: version %d is not above the current %d: %w",
				op.Handle, op.Version, cur, ErrBadChunk)
		}
		p.n, p.chunk = n, i
		return p, nil
	default:
		return p, fmt.Errorf("%s: unknown op type: %w", op.Type, ErrBadOp)
	}
}

func (s *State) planRenameLocked(op Op) (plan, error) {
	var p plan
	what := func() string { return fmt.Sprintf("rename %s to %s", showPath(op.Path), showPath(op.Path2)) }
	if problem := pathProblem(op.Path); problem != "" {
		return p, fmt.Errorf("%s: source: %s: %w", what(), problem, ErrInvalidPath)
	}
	if problem := pathProblem(op.Path2); problem != "" {
		return p, fmt.Errorf("%s: destination: %s: %w", what(), problem, ErrInvalidPath)
	}
	if op.Path == "/" {
		return p, fmt.Errorf("%s: the root directory cannot be renamed: %w", what(), ErrInvalidMove)
	}
	parent, name, err := s.parentLocked("rename", op.Path)
	if err != nil {
		return p, err
	}
	n := parent.children[name]
	if n == nil {
		return p, fmt.Errorf("%s: source does not exist: %w", what(), ErrNotFound)
	}
	if op.Path2 == "/" {
		return p, fmt.Errorf("%s: destination exists (the root): %w", what(), ErrExists)
	}
	if inSubtree(op.Path2, op.Path) {
		return p, fmt.Errorf("%s: destination is inside the source: %w", what(), ErrInvalidMove)
	}
	parent2, name2, err := s.parentLocked("rename", op.Path2)
	if err != nil {
		return p, err
	}
	if parent2.children[name2] != nil {
		return p, fmt.Errorf("%s: destination already exists; delete it first or choose another name: %w",
			what(), ErrExists)
	}
	return plan{parent: parent, name: name, n: n, parent2: parent2, name2: name2}, nil
}

// execLocked applies an op that planLocked accepted.
func (s *State) execLocked(op Op, p plan) Result {
	switch op.Type {
	case OpMkdir:
		d := newDir()
		d.touch(op.Mtime)
		p.parent.children[strings.Clone(p.name)] = d
		p.parent.touch(op.Mtime)
		s.dirs++
	case OpCreate:
		p.parent.children[strings.Clone(p.name)] = &node{mtime: op.Mtime}
		p.parent.touch(op.Mtime)
		s.files++
	case OpDelete:
		delete(p.parent.children, p.name)
		p.parent.touch(op.Mtime)
		if p.n.dir() {
			s.dirs--
		} else {
			for _, c := range p.n.chunks {
				delete(s.handles, c.Handle)
			}
			s.files--
		}
	case OpRename:
		delete(p.parent.children, p.name)
		p.parent2.children[strings.Clone(p.name2)] = p.n
		p.parent.touch(op.Mtime)
		p.parent2.touch(op.Mtime)
	case OpAddChunk:
		p.n.touch(op.Mtime)
		h := s.nextHandle
		s.nextHandle++
		p.n.chunks = append(p.n.chunks, Chunk{Handle: h, Version: 1})
		s.handles[h] = p.n
		return Result{Handle: h, Version: 1}
	case OpSetChunkVersion:
		p.n.chunks[p.chunk].Version = op.Version
		return Result{Handle: op.Handle, Version: op.Version}
	case OpSetSize:
		p.n.size = op.Size
		p.n.touch(op.Mtime)
	case OpGrowSize:
		if op.Size > p.n.size {
			p.n.size = op.Size
			p.n.touch(op.Mtime)
		}
	}
	return Result{}
}

// checkNewNames holds the names op creates to ValidateNewPath. Check does
// it, Apply does not: records logged before the rule replay as they did.
func checkNewNames(op Op) error {
	var p string
	switch op.Type {
	case OpCreate, OpMkdir:
		p = op.Path
	case OpRename:
		p = op.Path2
	default:
		return nil
	}
	if problem := charProblem(p); problem != "" {
		return fmt.Errorf("%s %s: %s: %w", op.Type, showPath(p), problem, ErrInvalidPath)
	}
	return nil
}

func validateOpPath(t OpType, p string) error {
	if problem := pathProblem(p); problem != "" {
		return fmt.Errorf("%s %s: %s: %w", t, showPath(p), problem, ErrInvalidPath)
	}
	return nil
}

// parentLocked returns the parent directory of the valid, non-root path p and
// p's last element. The error names the first missing or non-directory
// ancestor.
func (s *State) parentLocked(verb, p string) (*node, string, error) {
	dir := s.root
	for i := 1; ; {
		j := strings.IndexByte(p[i:], '/')
		if j < 0 {
			return dir, p[i:], nil
		}
		next := dir.children[p[i:i+j]]
		if err := ancestorError(verb, p, p[:i+j], next); err != nil {
			return nil, "", err
		}
		dir = next
		i += j + 1
	}
}

// ancestorError says why n, the node at ancestor (a proper prefix of p), is
// not a usable parent directory, or returns nil if it is one.
func ancestorError(verb, p, ancestor string, n *node) error {
	switch {
	case n == nil:
		return fmt.Errorf("%s %s: parent directory %s does not exist; create it first: %w",
			verb, showPath(p), showPath(ancestor), ErrNotFound)
	case !n.dir():
		return fmt.Errorf("%s %s: %s is a file, not a directory: %w",
			verb, showPath(p), showPath(ancestor), ErrNotDir)
	}
	return nil
}

// lookupLocked returns the node at p, after validating p.
func (s *State) lookupLocked(verb, p string) (*node, error) {
	if problem := pathProblem(p); problem != "" {
		return nil, fmt.Errorf("%s %s: %s: %w", verb, showPath(p), problem, ErrInvalidPath)
	}
	if p == "/" {
		return s.root, nil
	}
	parent, name, err := s.parentLocked(verb, p)
	if err != nil {
		return nil, err
	}
	n := parent.children[name]
	if n == nil {
		return nil, fmt.Errorf("%s %s: no such file or directory: %w", verb, showPath(p), ErrNotFound)
	}
	return n, nil
}

// fileLocked returns the file at p.
func (s *State) fileLocked(verb, p string) (*node, error) {
	n, err := s.lookupLocked(verb, p)
	if err != nil {
		return nil, err
	}
	if n.dir() {
		return nil, fmt.Errorf("%s %s: path is a directory; give a file: %w", verb, showPath(p), ErrIsDir)
	}
	return n, nil
}

// Stat describes the file or directory at path.
func (s *State) Stat(path string) (Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.lookupLocked("stat", path)
	if err != nil {
		return Entry{}, err
	}
	name := "/"
	if path != "/" {
		name = path[parentLen(path)+1:]
	}
	return entryOf(path, name, n), nil
}

// List describes the entries of the directory at path, sorted by name. A
// file path gives an error wrapping ErrNotDir.
func (s *State) List(path string) ([]Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.lookupLocked("list", path)
	if err != nil {
		return nil, err
	}
	if !n.dir() {
		return nil, fmt.Errorf("list %s: path is a file, not a directory: %w", showPath(path), ErrNotDir)
	}
	names := sortedNames(n)
	prefix := path
	if path != "/" {
		prefix += "/"
	}
	out := make([]Entry, len(names))
	for i, name := range names {
		out[i] = entryOf(prefix+name, name, n.children[name])
	}
	return out, nil
}

func entryOf(path, name string, n *node) Entry {
	e := Entry{Path: path, Name: name, Dir: n.dir(), Size: n.size, Mtime: n.mtime}
	if len(n.chunks) > 0 {
		e.Chunks = slices.Clone(n.chunks)
	}
	return e
}

// sortedNames returns the names of dir's children in byte order.
func sortedNames(dir *node) []string {
	names := make([]string, 0, len(dir.children))
	for name := range dir.children {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// ChunkVersions returns the current version of every chunk the namespace
// holds, by handle, and the applied index the answer reflects: a consistent
// cut taken under the read lock, without walking directories.
func (s *State) ChunkVersions() (map[uint64]uint64, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[uint64]uint64, len(s.handles))
	for h, n := range s.handles {
		// A file's chunks are in ascending handle order.
		i := sort.Search(len(n.chunks), func(i int) bool { return n.chunks[i].Handle >= h })
		if i < len(n.chunks) && n.chunks[i].Handle == h {
			out[h] = n.chunks[i].Version
		}
	}
	return out, s.applied
}
