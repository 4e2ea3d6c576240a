package e2e

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The fault suite's history and its model.
//
// Every client operation is recorded with its call and return times (on the
// monotonic clock, as nanoseconds since the suite began), its input and what
// it returned. Each worker group works inside its own top-level directory,
// a fresh one every epoch, and no operation ever names a path outside it,
// so the history splits into one small partition per directory: porcupine
// checks them independently, and each stays short.
//
// A write that failed with anything but a definite answer (a timeout, "no
// primary", an error from the data path) may or may not have been applied:
// it is recorded with output unknown and a return time at the end of the
// history, so the checker may place it anywhere after its call, or after
// everything (which is the same as never). A read that failed is left out:
// it has no effect and says nothing.

// nsKind is the kind of a namespace operation.
type nsKind uint8

const (
	opMkdir nsKind = iota + 1
	opCreate
	opDelete
	opRename
	opPut // client.Put: a new file with data, published by a rename
	opStat
	opList
	opCat // client.Cat: the data of a file
)

func (k nsKind) String() string {
	return [...]string{"?", "mkdir", "create", "delete", "rename", "put", "stat", "list", "cat"}[k]
}

// write reports whether the operation may change the namespace.
func (k nsKind) write() bool { return k <= opPut }

// nsInput is an operation's input. Part is the top-level directory its paths
// lie in (the partition).
type nsInput struct {
	Part  string
	Kind  nsKind
	Path  string
	Path2 string // rename destination
	Tag   string // put: the identity of the data written
	Size  int64  // put: its size
}

// nsResult classes an answer as the client package reports it.
type nsResult uint8

const (
	resOK           nsResult = iota
	resNotFound              // client.ErrNotFound
	resExists                // client.ErrExists
	resPrecondition          // client.ErrPrecondition: not empty, not a directory, is a directory
	resInvalid               // client.ErrInvalid: rename into its own subtree, cat of a directory
	resUnknown               // a write whose outcome is unknown (maybe applied)
)

func (r nsResult) String() string {
	return [...]string{"ok", "not-found", "exists", "precondition", "invalid", "unknown"}[r]
}

// nsOutput is what an operation returned.
type nsOutput struct {
	Res     nsResult
	Dir     bool   // stat
	Size    int64  // stat
	Entries string // list: "name/" for a directory, "name" for a file, joined by ","; hidden (.name) entries left out
	Tag     string // cat: the identity of the data read ("" for an empty file)
}

// nsEntry is one path of the model's state.
type nsEntry struct {
	Dir  bool
	Size int64
	Tag  string
}

// nsState is a partition's namespace below "/": path → entry. It is encoded
// as a canonical string (sorted paths), so that states compare with == and
// porcupine can hash them.
type nsState map[string]nsEntry

func encodeState(s nsState) string {
	paths := make([]string, 0, len(s))
	for p := range s {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		e := s[p]
		k := "f"
		if e.Dir {
			k = "d"
		}
		fmt.Fprintf(&b, "%s\x00%s\x00%d\x00%s\n", p, k, e.Size, e.Tag)
	}
	return b.String()
}

func decodeState(enc string) nsState {
	s := nsState{}
	for line := range strings.SplitSeq(enc, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\x00")
		size, _ := strconv.ParseInt(f[2], 10, 64)
		s[f[0]] = nsEntry{Dir: f[1] == "d", Size: size, Tag: f[3]}
	}
	return s
}

// parentOfPath is p's parent directory ("/" for a top-level path).
func parentOfPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// below reports whether p lies strictly below dir.
func below(p, dir string) bool { return strings.HasPrefix(p, dir+"/") }

// ancestorsOK is meta's parent check: the first proper ancestor of p (from
// the top) that is missing gives not-found, one that is a file gives
// not-a-directory (precondition).
func (s nsState) ancestorsOK(p string) nsResult {
	for i := 1; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		e, ok := s[p[:i]]
		switch {
		case !ok:
			return resNotFound
		case !e.Dir:
			return resPrecondition
		}
	}
	return resOK
}

func (s nsState) hasChildren(dir string) bool {
	for p := range s {
		if below(p, dir) {
			return true
		}
	}
	return false
}

func (s nsState) clone() nsState {
	c := make(nsState, len(s)+1)
	for p, e := range s {
		c[p] = e
	}
	return c
}

// apply runs in on s as the master's state machine (internal/meta) would:
// the same checks in the same order. It returns the result and the new state
// (s itself when nothing changed), and for reads the output.
func (s nsState) apply(in nsInput) (nsOutput, nsState) {
	fail := func(r nsResult) (nsOutput, nsState) { return nsOutput{Res: r}, s }
	switch in.Kind {
	case opMkdir, opCreate, opPut:
		if r := s.ancestorsOK(in.Path); r != resOK {
			return fail(r)
		}
		if _, ok := s[in.Path]; ok {
			return fail(resExists)
		}
		n := s.clone()
		switch in.Kind {
		case opMkdir:
			n[in.Path] = nsEntry{Dir: true}
		case opCreate:
			n[in.Path] = nsEntry{}
		case opPut:
			n[in.Path] = nsEntry{Size: in.Size, Tag: in.Tag}
		}
		return nsOutput{}, n
	case opDelete:
		if r := s.ancestorsOK(in.Path); r != resOK {
			return fail(r)
		}
		e, ok := s[in.Path]
		if !ok {
			return fail(resNotFound)
		}
		if e.Dir && s.hasChildren(in.Path) {
			return fail(resPrecondition)
		}
		n := s.clone()
		delete(n, in.Path)
		return nsOutput{}, n
	case opRename:
		if r := s.ancestorsOK(in.Path); r != resOK {
			return fail(r)
		}
		if _, ok := s[in.Path]; !ok {
			return fail(resNotFound)
		}
		if below(in.Path2, in.Path) {
			return fail(resInvalid)
		}
		if r := s.ancestorsOK(in.Path2); r != resOK {
			return fail(r)
		}
		if _, ok := s[in.Path2]; ok {
			return fail(resExists)
		}
		n := s.clone()
		for p, e := range s {
			if p == in.Path || below(p, in.Path) {
				delete(n, p)
				n[in.Path2+strings.TrimPrefix(p, in.Path)] = e
			}
		}
		return nsOutput{}, n
	case opStat, opCat:
		if r := s.ancestorsOK(in.Path); r != resOK {
			return fail(r)
		}
		e, ok := s[in.Path]
		if !ok {
			return fail(resNotFound)
		}
		if in.Kind == opStat {
			return nsOutput{Dir: e.Dir, Size: e.Size}, s
		}
		if e.Dir {
			return fail(resInvalid)
		}
		return nsOutput{Tag: e.Tag}, s
	case opList:
		if r := s.ancestorsOK(in.Path); r != resOK {
			return fail(r)
		}
		e, ok := s[in.Path]
		if !ok {
			return fail(resNotFound)
		}
		if !e.Dir {
			return fail(resPrecondition)
		}
		var names []string
		for p, c := range s {
			if parentOfPath(p) == in.Path {
				name := p[len(in.Path)+1:]
				if c.Dir {
					name += "/"
				}
				names = append(names, name)
			}
		}
		return nsOutput{Entries: joinEntries(names)}, s
	}
	panic(fmt.Sprintf("model: unknown operation %v", in.Kind))
}

// joinEntries is the canonical form of a listing.
func joinEntries(names []string) string {
	slices.Sort(names)
	return strings.Join(names, ",")
}

// nsModel is the porcupine model of one partition: its state starts empty
// (only "/" exists, implicitly).
var nsModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byPart := map[string][]porcupine.Operation{}
		var parts []string
		for _, op := range history {
			p := op.Input.(nsInput).Part
			if _, ok := byPart[p]; !ok {
				parts = append(parts, p)
			}
			byPart[p] = append(byPart[p], op)
		}
		out := make([][]porcupine.Operation, 0, len(parts))
		for _, p := range parts {
			out = append(out, byPart[p])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s := decodeState(state.(string))
		in, out := input.(nsInput), output.(nsOutput)
		want, next := s.apply(in)
		if in.Kind.write() {
			if out.Res == resUnknown {
				// Maybe applied: here it is applied, with whatever
				// result; "never applied" is the same as placing it
				// after everything, which its return time allows.
				return true, encodeState(next)
			}
			return want.Res == out.Res, encodeState(next)
		}
		return want == out, state
	},
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(nsInput), output.(nsOutput)
		return describeOp(in, out)
	},
	DescribeState: func(state any) string {
		s := decodeState(state.(string))
		var paths []string
		for p, e := range s {
			switch {
			case e.Dir:
				paths = append(paths, p+"/")
			case e.Tag != "":
				paths = append(paths, fmt.Sprintf("%s(%s,%dB)", p, e.Tag, e.Size))
			default:
				paths = append(paths, p)
			}
		}
		sort.Strings(paths)
		return "{" + strings.Join(paths, " ") + "}"
	},
}

func describeOp(in nsInput, out nsOutput) string {
	var b strings.Builder
	b.WriteString(in.Kind.String() + " " + in.Path)
	switch in.Kind {
	case opRename:
		b.WriteString(" → " + in.Path2)
	case opPut:
		fmt.Fprintf(&b, " [%s, %d B]", in.Tag, in.Size)
	}
	b.WriteString(" ⇒ " + out.Res.String())
	if out.Res == resOK {
		switch in.Kind {
		case opStat:
			if out.Dir {
				b.WriteString(" dir")
			} else {
				fmt.Fprintf(&b, " file %d B", out.Size)
			}
		case opList:
			b.WriteString(" [" + out.Entries + "]")
		case opCat:
			fmt.Fprintf(&b, " [%s]", out.Tag)
		}
	}
	return b.String()
}

// histOp is one recorded operation.
type histOp struct {
	Worker  int // porcupine's ClientId: the worker's index in its group (the verifier has its own)
	In      nsInput
	Out     nsOutput
	Call    time.Duration // since the suite began
	Return  time.Duration // ditto; ignored when Out.Res is resUnknown
	Via     string        // "primary" (the client package) or a master's id (its RPC directly)
	Err     string        `json:",omitempty"` // the client's error, for the log
	Ambig   bool          // a write with an unknown outcome
	Dropped bool          `json:",omitempty"` // a failed read: not checked
}

// history is the suite's record of every operation; safe for concurrent use.
type history struct {
	start time.Time

	mu  sync.Mutex // guards ops
	ops []histOp
}

func newHistory() *history { return &history{start: time.Now()} }

// now is the time since the suite began (monotonic).
func (h *history) now() time.Duration { return time.Since(h.start) }

func (h *history) add(op histOp) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// snapshot is a copy of the operations recorded so far.
func (h *history) snapshot() []histOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// porcupineOps converts the checked operations: dropped reads are left
// out, and a maybe-applied write returns at the end of the history.
func porcupineOps(ops []histOp) []porcupine.Operation {
	var end time.Duration
	for _, o := range ops {
		end = max(end, o.Return, o.Call)
	}
	end += time.Second
	var out []porcupine.Operation
	for _, o := range ops {
		if o.Dropped {
			continue
		}
		ret := o.Return
		if o.Ambig {
			ret = end
		}
		out = append(out, porcupine.Operation{ClientId: o.Worker, Input: o.In, Output: o.Out,
			Call: int64(o.Call), Return: int64(ret), Metadata: o.Via})
	}
	return out
}

// linearizability is the outcome of checking a history.
type linearizability struct {
	Result     porcupine.CheckResult
	Partitions int
	Ops        int
	Took       time.Duration
	Illegal    []string // partitions found not linearizable
	Files      []string // visualizations written
}

// checkHistory checks ops with porcupine (bounded by timeout). When the
// result is not Ok, every partition is checked alone (each for at most
// 20 s) to name the illegal ones, and a visualization of each (up to three)
// is written to dir, with the faults as annotations.
func checkHistory(ops []histOp, timeout time.Duration, dir string, faults []porcupine.Annotation) linearizability {
	pops := porcupineOps(ops)
	start := time.Now()
	res, _ := porcupine.CheckOperationsVerbose(nsModel, pops, timeout)
	l := linearizability{Result: res, Partitions: len(nsModel.Partition(pops)), Ops: len(pops), Took: time.Since(start)}
	if res == porcupine.Ok {
		return l
	}
	for _, part := range nsModel.Partition(pops) {
		name := part[0].Input.(nsInput).Part
		pr, info := porcupine.CheckOperationsVerbose(nsModel, part, min(timeout, 20*time.Second))
		if pr == porcupine.Ok {
			continue
		}
		l.Illegal = append(l.Illegal, fmt.Sprintf("%s (%s, %d ops)", name, pr, len(part)))
		if len(l.Files) >= 3 {
			continue
		}
		info.AddAnnotations(faults)
		file := filepath.Join(dir, "linearizability-"+strings.Trim(strings.ReplaceAll(name, "/", "_"), "_")+".html")
		if err := porcupine.VisualizePath(nsModel, info, file); err == nil {
			l.Files = append(l.Files, file)
		}
	}
	return l
}

// writeHistory writes ops as JSON lines to path, for a post-mortem.
func writeHistory(path string, ops []histOp) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, o := range ops {
		if err := enc.Encode(o); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
