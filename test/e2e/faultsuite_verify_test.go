package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
)

// verify runs the checks of a finished run, with the workers stopped and
// every fault healed, and logs the report.
func (s *faultSuite) verify() {
	t := s.t
	t.Helper()
	final := s.waitSteady(90 * time.Second)
	s.noteLeadership(final, "after the last fault")
	begin := time.Now()
	reads := s.finalReads()
	t.Logf("final reads of every path of %d partitions: %v", len(reads), time.Since(begin).Round(time.Millisecond))

	ops := s.hist.snapshot()
	var annotations []porcupine.Annotation
	for i, ev := range s.events {
		annotations = append(annotations, porcupine.Annotation{Tag: "faults", Start: int64(ev.Inject), End: int64(ev.Healed),
			Description: fmt.Sprintf("%d: %s", i+1, ev.Kind),
			Details:     fmt.Sprintf("%s → %s, token %d → %d, failover %v", ev.From, ev.To, ev.OldToken, ev.NewToken, ev.Failover)})
	}
	lin := checkHistory(ops, s.cfg.CheckTimeout, s.dir, annotations)
	lost := s.checkNothingLost(ops, reads)
	idx, digest := s.checkDigests(60 * time.Second)
	csReport, final := s.checkChunkservers()
	s.report(final, ops, lin, idx, digest, csReport)

	if lin.Result != porcupine.Ok {
		t.Errorf("the history of %d operations in %d partitions is %s (checked in %v); not linearizable: %v; visualizations: %v",
			lin.Ops, lin.Partitions, lin.Result, lin.Took.Round(time.Millisecond), lin.Illegal, lin.Files)
	}
	for _, l := range lost {
		t.Errorf("acknowledged write lost: %s", l)
	}
}

// finalState is what the final reads found in one partition: path → the
// answer of its stat, and of its cat for a file.
type finalState map[string]finalPath

type finalPath struct {
	stat nsOutput
	cat  nsOutput // Res resUnknown when not read (a directory, or missing)
}

// finalReads stats every path each partition's operations named (and its
// parent directories), lists every directory and cats every file, through
// the primary, retrying each until it gets a definite answer (all within
// five minutes); every read is recorded in the history under its own
// worker id. It returns what it found, by partition.
func (s *faultSuite) finalReads() map[string]finalState {
	t := s.t
	t.Helper()
	paths := map[string]map[string]bool{}
	for _, op := range s.hist.snapshot() {
		ps := paths[op.In.Part]
		if ps == nil {
			ps = map[string]bool{op.In.Part: true}
			paths[op.In.Part] = ps
		}
		for _, p := range []string{op.In.Path, op.In.Path2} {
			for ; p != "" && p != "/" && (p == op.In.Part || below(p, op.In.Part)); p = parentOfPath(p) {
				ps[p] = true
			}
		}
	}
	var parts []string
	for p := range paths {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	verifier := s.cfg.Workers + 1 // a ClientId of its own in each partition
	deadline := time.Now().Add(5 * time.Minute)
	out := map[string]finalState{}
	var mu sync.Mutex // guards out and errs
	var errs []string
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for part := range work {
				fs := finalState{}
				var sorted []string
				for p := range paths[part] {
					sorted = append(sorted, p)
				}
				sort.Strings(sorted)
				for _, p := range sorted {
					st, ok := s.definiteRead(nsInput{Part: part, Kind: opStat, Path: p}, verifier, deadline)
					if !ok {
						mu.Lock()
						errs = append(errs, "stat "+p)
						mu.Unlock()
						continue
					}
					fp := finalPath{stat: st, cat: nsOutput{Res: resUnknown}}
					switch {
					case st.Res == resOK && st.Dir:
						s.definiteRead(nsInput{Part: part, Kind: opList, Path: p}, verifier, deadline)
					case st.Res == resOK:
						if c, ok := s.definiteRead(nsInput{Part: part, Kind: opCat, Path: p}, verifier, deadline); ok {
							fp.cat = c
						} else {
							mu.Lock()
							errs = append(errs, "cat "+p)
							mu.Unlock()
						}
					}
					fs[p] = fp
				}
				mu.Lock()
				out[part] = fs
				mu.Unlock()
			}
		}()
	}
	for _, p := range parts {
		work <- p
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d final reads never got an answer on a steady cluster, e.g. %v", len(errs), errs[:min(len(errs), 10)])
	}
	return out
}

// definiteRead runs a read through the primary until it gets an answer
// (at most five tries, none after deadline); every try is recorded.
func (s *faultSuite) definiteRead(in nsInput, worker int, deadline time.Time) (nsOutput, bool) {
	for range 5 {
		if time.Now().After(deadline) {
			break
		}
		op := s.work.exec(s.checker, worker, in, "", 10*time.Second)
		s.hist.add(op)
		if !op.Dropped {
			return op.Out, true
		}
		if s.t.Context().Err() != nil {
			break
		}
	}
	return nsOutput{}, false
}

// checkNothingLost checks, apart from porcupine, that every acknowledged
// write is still there at the end: a path that an acknowledged create,
// mkdir, put or rename made must exist (a file for all but mkdir; a put's
// data intact) unless some delete or rename that could have removed it
// (acknowledged or maybe-applied) may have come after it, that is, did not
// return before it was called.
func (s *faultSuite) checkNothingLost(ops []histOp, reads map[string]finalState) []string {
	byPart := map[string][]histOp{}
	for _, op := range ops {
		byPart[op.In.Part] = append(byPart[op.In.Part], op)
	}
	var lost []string
	for part, pops := range byPart {
		must := map[string]histOp{} // path → the latest acknowledged write that made it
		for _, w := range pops {
			if w.Ambig || w.Out.Res != resOK {
				continue
			}
			var p string
			switch w.In.Kind {
			case opMkdir, opCreate, opPut:
				p = w.In.Path
			case opRename:
				p = w.In.Path2
			default:
				continue
			}
			removed := false
			for _, r := range pops {
				if !(r.Ambig || r.Out.Res == resOK) || !(r.In.Kind == opDelete || r.In.Kind == opRename) {
					continue
				}
				if (r.In.Path == p || below(p, r.In.Path)) && (r.Ambig || r.Return >= w.Call) {
					removed = true
					break
				}
			}
			if removed {
				continue
			}
			if prev, ok := must[p]; !ok || prev.Call < w.Call {
				must[p] = w
			}
		}
		for p, w := range must {
			got, ok := reads[part][p]
			wantDir := w.In.Kind == opMkdir // a rename moves files and directories alike: not checked
			switch {
			case !ok:
				lost = append(lost, fmt.Sprintf("%s (by %s at %v): no final read", p, describeOp(w.In, w.Out), w.Call))
			case got.stat.Res != resOK:
				lost = append(lost, fmt.Sprintf("%s: acknowledged %s at %v–%v, nothing removed it since, but a stat at the end says %s",
					p, describeOp(w.In, w.Out), w.Call, w.Return, got.stat.Res))
			case w.In.Kind != opRename && got.stat.Dir != wantDir:
				lost = append(lost, fmt.Sprintf("%s: acknowledged %s, but at the end it is dir=%v", p, describeOp(w.In, w.Out), got.stat.Dir))
			case w.In.Kind == opPut && (got.cat.Res != resOK || got.cat.Tag != w.In.Tag || got.stat.Size != w.In.Size):
				lost = append(lost, fmt.Sprintf("%s: acknowledged %s, but at the end it holds %d bytes read as %q (%s)",
					p, describeOp(w.In, w.Out), got.stat.Size, got.cat.Tag, got.cat.Res))
			}
		}
	}
	sort.Strings(lost)
	return lost
}

// checkDigests waits until every master reports a digest at one common
// applied index (no writes run now) and fails if two differ.
func (s *faultSuite) checkDigests(bound time.Duration) (uint64, string) {
	t := s.t
	t.Helper()
	seen := make([]map[uint64]string, len(s.masters))
	for i := range seen {
		seen[i] = map[uint64]string{}
	}
	var common uint64
	var digest, mismatch string
	var lastErr error
	err := poll(t.Context(), bound, func() bool {
		for i, m := range s.masters {
			d, ok, err := sampleDigest(t.Context(), s.direct[m.ID])
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", m.ID, err)
				continue
			}
			if ok {
				seen[i][d.index] = d.digest
			}
		}
		for idx, d := range seen[0] {
			all := true
			for i := 1; i < len(seen); i++ {
				di, ok := seen[i][idx]
				if !ok {
					all = false
					break
				}
				if di != d {
					mismatch = fmt.Sprintf("at applied index %d %s has digest %s but %s has %s", idx, s.masters[0].ID, d, s.masters[i].ID, di)
					return true
				}
			}
			if all {
				common, digest = idx, d
				return true
			}
		}
		return false
	})
	switch {
	case mismatch != "":
		t.Errorf("state digests differ: %s", mismatch)
	case err != nil:
		t.Errorf("the masters never reported a digest at one common applied index: %v (last error %v)", err, lastErr)
	}
	return common, digest
}

// checkOldTokensRefused sends every chunkserver a harmless command (delete
// no chunks) under each token seen before current: each must be refused
// with PERMISSION_DENIED.
func (s *faultSuite) checkOldTokensRefused(when string, current int64) {
	s.t.Helper()
	for _, p := range s.oldTokenProblems(current) {
		s.t.Errorf("after %s: %s", when, p)
	}
}

// oldTokenProblems is checkOldTokensRefused's findings.
func (s *faultSuite) oldTokenProblems(current int64) []string {
	var old []int64
	for _, tok := range s.tokens {
		if tok < current {
			old = append(old, tok)
		}
	}
	if len(old) > 2 { // the newest old one and the oldest: enough, and cheap
		old = []int64{old[0], old[len(old)-1]}
	}
	var problems []string
	for _, cs := range s.cs {
		cc, err := grpc.NewClient(cs.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: dial %s: %v", cs.ID, cs.Addr, err))
			continue
		}
		c := chunkpb.NewChunkserverClient(cc)
		for _, tok := range old {
			ctx, cancel := context.WithTimeout(s.t.Context(), 5*time.Second)
			_, err := c.DeleteChunks(ctx, &chunkpb.DeleteChunksRequest{Token: tok})
			cancel()
			if status.Code(err) != codes.PermissionDenied {
				problems = append(problems, fmt.Sprintf("chunkserver %s given a command under the old token %d (current %d): %v; want PERMISSION_DENIED",
					cs.ID, tok, current, err))
			}
		}
		cc.Close()
	}
	return problems
}

// chunkserverReport is what the chunkservers' checks found.
type chunkserverReport struct {
	refusals      map[string]int // commands of deposed primaries refused (the suite's probes left out), by chunkserver
	registrations map[string]int
}

var (
	reRegistered = regexp.MustCompile(`msg="registered with the primary".* token=(\d+)`)
	reDeleted    = regexp.MustCompile(`msg="deleted replicas".* token=(\d+)`)
)

// checkChunkservers checks that no chunkserver accepted a stale token: each
// obeys the primary's token (in its Info answer, its persisted TOKEN file
// and the primary's listing), refuses every older token, and its log never
// shows a registration, or a command it carried out, under a token below
// one it had registered with before. If leadership moves while it checks,
// it checks again under the new primary (at most three times). It returns
// the primary it checked against.
func (s *faultSuite) checkChunkservers() (chunkserverReport, steadyState) {
	t := s.t
	t.Helper()
	rep, problems := s.chunkserverLogs()
	var st steadyState
	for attempt := 1; ; attempt++ {
		st = s.waitSteady(60 * time.Second)
		s.noteLeadership(st, "during the checks after the run")
		found := s.chunkserverTokenProblems(st)
		if len(found) == 0 {
			break
		}
		if again := s.waitSteady(60 * time.Second); again.token == st.token || attempt == 3 {
			problems = append(problems, found...)
			break
		}
	}
	for _, p := range problems {
		t.Errorf("%s", p)
	}
	return rep, st
}

// chunkserverTokenProblems compares every chunkserver's token with the
// primary's st, and has every older token refused.
func (s *faultSuite) chunkserverTokenProblems(st steadyState) []string {
	var problems []string
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	listing, err := s.checker.Chunkservers(ctx)
	if err != nil {
		problems = append(problems, fmt.Sprintf("ctl chunkservers: %v", err))
	}
	for _, cs := range s.cs {
		cc, err := grpc.NewClient(cs.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: dial %s: %v", cs.ID, cs.Addr, err))
			continue
		}
		info, err := chunkpb.NewChunkserverClient(cc).Info(ctx, &chunkpb.InfoRequest{})
		cc.Close()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s Info: %v", cs.ID, err))
		case info.Token != st.token:
			problems = append(problems, fmt.Sprintf("%s obeys token %d; the primary %s holds %d", cs.ID, info.Token, st.m.ID, st.token))
		}
		b, err := os.ReadFile(filepath.Join(cs.Dir, "TOKEN"))
		if got := strings.TrimSpace(string(b)); err != nil || got != strconv.FormatInt(st.token, 10) {
			problems = append(problems, fmt.Sprintf("%s/TOKEN = %q (%v); want the primary's token %d", cs.Dir, got, err, st.token))
		}
		for _, l := range listing.Chunkservers {
			if l.ID == cs.ID && l.Token != st.token {
				problems = append(problems, fmt.Sprintf("ctl chunkservers: %s obeys token %d; want %d", cs.ID, l.Token, st.token))
			}
		}
	}
	return append(problems, s.oldTokenProblems(st.token)...)
}

// chunkserverLogs reads every chunkserver's log: registrations must never
// go to a lower token, nor a carried-out command carry one below the last
// registration; it counts commands of deposed primaries refused.
func (s *faultSuite) chunkserverLogs() (chunkserverReport, []string) {
	rep := chunkserverReport{refusals: map[string]int{}, registrations: map[string]int{}}
	var problems []string
	for _, cs := range s.cs {
		var highest int64
		for i, line := range strings.Split(cs.Stderr(), "\n") {
			// The suite's own probes are "delete 0 chunks"; the others
			// came from a deposed primary.
			if strings.Contains(line, "refused a command from an older primary") && !strings.Contains(line, `command="delete 0 chunks"`) {
				rep.refusals[cs.ID]++
			}
			if m := reRegistered.FindStringSubmatch(line); m != nil {
				tok, _ := strconv.ParseInt(m[1], 10, 64)
				rep.registrations[cs.ID]++
				if tok < highest {
					problems = append(problems, fmt.Sprintf("%s.stderr line %d: registered with a primary under token %d after one under %d: %s", cs.ID, i+1, tok, highest, line))
				}
				highest = max(highest, tok)
			}
			if m := reDeleted.FindStringSubmatch(line); m != nil {
				if tok, _ := strconv.ParseInt(m[1], 10, 64); tok < highest {
					problems = append(problems, fmt.Sprintf("%s.stderr line %d: carried out a command under token %d after registering under %d: %s", cs.ID, i+1, tok, highest, line))
				}
			}
		}
	}
	return rep, problems
}

// noteLeadership records a primary token not seen before, outside any
// fault: no invariant forbids a failover nobody provoked, but the report
// says how many there were.
func (s *faultSuite) noteLeadership(st steadyState, when string) {
	last := s.tokens[len(s.tokens)-1]
	if st.token == last {
		return
	}
	s.unprovoked = append(s.unprovoked, fmt.Sprintf("token %d → %d (%s serves) %s, at %v", last, st.token, st.m.ID, when, s.hist.now().Round(time.Millisecond)))
	s.t.Logf("leadership changed with no fault injected (%s): token %d → %d, %s serves", when, last, st.token, st.m.ID)
	s.tokens = append(s.tokens, st.token)
}

// report logs the run's figures: the workload, the checks and, per fault
// kind, the failover and write-back times.
func (s *faultSuite) report(final steadyState, ops []histOp, lin linearizability, idx uint64, digest string, cs chunkserverReport) {
	t := s.t
	var reads, writes, acked, ambig, dropped, direct, directAnswered int
	for _, o := range ops {
		if o.In.Kind.write() {
			writes++
			switch {
			case o.Ambig:
				ambig++
			case o.Out.Res == resOK:
				acked++
			}
		} else {
			reads++
			if o.Dropped {
				dropped++
			}
			if o.Via != "primary" {
				direct++
				if !o.Dropped {
					directAnswered++
				}
			}
		}
	}
	t.Logf("workload: %d operations (%d writes: %d acknowledged ok, %d maybe-applied; %d reads: %d without an answer, %d sent straight to a master of which %d answered), %d epochs",
		len(ops), writes, acked, ambig, reads, dropped, direct, directAnswered, s.work.epochs.Load())
	t.Logf("linearizability: %s, %d operations in %d partitions checked in %v", lin.Result, lin.Ops, lin.Partitions, lin.Took.Round(time.Millisecond))
	t.Logf("digests: every master has %s at applied index %d", digest, idx)
	t.Logf("leadership changes with no fault injected: %d %v", len(s.unprovoked), s.unprovoked)
	t.Logf("chunkservers: all obey token %d (tokens seen %v); registrations %v; commands from deposed primaries refused (besides the suite's probes) %v",
		final.token, s.tokens, cs.registrations, cs.refusals)

	type agg struct {
		n, deposed        int
		failover, writeBk []time.Duration
	}
	by := map[string]*agg{}
	var kinds []string
	for _, ev := range s.events {
		a := by[ev.Kind]
		if a == nil {
			a = &agg{}
			by[ev.Kind] = a
			kinds = append(kinds, ev.Kind)
		}
		a.n++
		if ev.NewToken != ev.OldToken {
			a.deposed++
		}
		if ev.Failover > 0 {
			a.failover = append(a.failover, ev.Failover)
		}
		a.writeBk = append(a.writeBk, ev.WriteBack)
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %5s %8s %10s %10s %12s %12s\n", "fault kind", "count", "failover", "p50", "max", "write p50", "write max")
	for _, k := range kinds {
		a := by[k]
		fmt.Fprintf(&b, "%-28s %5d %8d %10s %10s %12s %12s\n", k, a.n, a.deposed,
			pct(a.failover, 50), pct(a.failover, 100), pct(a.writeBk, 50), pct(a.writeBk, 100))
	}
	t.Logf("failover per fault kind (failover: injection to another master serving as primary, role and token from /status polled every %v; "+
		"write: injection to the acknowledgement of a create issued right after it):\n%s", pollEvery, b.String())
	var e strings.Builder
	for i, ev := range s.events {
		fmt.Fprintf(&e, "%3d %-28s %s→%s token %d→%d failover %v write %v catch-up %.1fms first write %.1fms\n", i+1, ev.Kind,
			ev.From, ev.To, ev.OldToken, ev.NewToken, ev.Failover.Round(time.Millisecond), ev.WriteBack.Round(time.Millisecond), ev.CatchUpMs, ev.FirstWriteMs)
	}
	t.Logf("faults:\n%s", e.String())
}

// pct is the p-th percentile of ds (nearest rank), "-" when empty.
func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)].Round(time.Millisecond).String()
}
