package main

// mutants is the table of deliberate breakages. Each one replaces Old (which
// must occur exactly once in File) by New in a scratch copy of the
// repository and runs `go test -run Tests Package`: the tests must fail.
//
// Adding a mutant is one entry here (and a row in docs/mutants.md). Keep Old
// short but unique, and New compiling: a mutant that does not build is
// reported as an error, not as caught.
var mutants = []mutant{
	// Reads: every member answers a linearizable Stat or List only once it
	// has applied up to a log head read from etcd after the read arrived.
	// Without the head read, a deposed primary whose view of etcd is late
	// answers from its old state; the catch-up wait is seen only by a test
	// that holds a member's replay (the delaying proxy keeps etcd's order,
	// so the head arrives after the records it covers).
	{
		Name:    "linearizable-no-head-read",
		File:    "internal/node/read.go",
		Old:     "h, err := n.readHead(wctx)",
		New:     "h, err := headResult{}, wctx.Err()",
		Package: "./internal/rpcserver",
		Tests:   "TestReadRefusedByDeposedPrimary",
	},
	{
		Name:    "linearizable-no-catch-up-shadow",
		File:    "internal/node/read.go",
		Old:     "n.waitApplied(wctx, h.head)",
		New:     "n.waitApplied(wctx, 0)",
		Package: "./internal/node",
		Tests:   "TestLinearizableReadOnShadowSeesAcknowledgedWrite",
	},
	{
		Name:    "linearizable-no-head-read-client",
		File:    "internal/node/read.go",
		Old:     "h, err := n.readHead(wctx)",
		New:     "h, err := headResult{}, wctx.Err()",
		Package: "./client",
		Tests:   "TestReadAfterFailoverSeesAcknowledgedWrite",
	},
	{
		Name:    "linearizable-no-head-read-faultsuite",
		File:    "internal/node/read.go",
		Old:     "h, err := n.readHead(wctx)",
		New:     "h, err := headResult{}, wctx.Err()",
		Package: "./test/e2e",
		Tests:   "TestFaultSuiteShort",
	},
	{
		Name:    "session-ignores-client-index",
		File:    "internal/node/read.go",
		Old:     "n.waitApplied(wctx, o.MinIndex)",
		New:     "n.waitApplied(wctx, 0)",
		Package: "./internal/node",
		Tests:   "TestSessionReadWaitsForClientIndex",
	},
	{
		Name:    "session-client-sends-no-index",
		File:    "client/read.go",
		Old:     "strconv.FormatUint(c.SeenIndex(), 10)",
		New:     "strconv.FormatUint(0, 10)",
		Package: "./client",
		Tests:   "TestSessionReadsAcrossMembers",
	},
	{
		Name:    "stale-lag-not-earned",
		File:    "internal/node/read.go",
		Old:     "if err == nil && n.waitApplied(rctx, h.head) == nil {",
		New:     "if err == nil {",
		Package: "./internal/node",
		Tests:   "TestStaleReadStatesHonestLag",
	},
	{
		Name:    "stale-max-lag-ignored",
		File:    "internal/node/read.go",
		Old:     "lag > maxLag",
		New:     "lag > maxLag+time.Hour",
		Package: "./internal/node",
		Tests:   "TestStaleReadStatesHonestLag",
	},
	// ReadConfirmed (the leadership confirmation read) must reach etcd.
	{
		Name:    "confirm-skipped",
		File:    "internal/node/confirm.go",
		Old:     "r, err := n.cfg.Client.Get(ctx, key)\n\t\tcancel()\n\t\tswitch {\n\t\tcase err != nil:\n\t\t\terr = fmt.Errorf(\"%w: cannot confirm leadership: %v\", ErrNotPrimary, err)\n\t\tcase len(r.Kvs) == 0 || r.Kvs[0].CreateRevision != token:",
		New:     "cancel()\n\t\t_ = ctx\n\t\tvar err error\n\t\tswitch {\n\t\tcase err != nil:\n\t\t\terr = fmt.Errorf(\"%w: cannot confirm leadership: %v\", ErrNotPrimary, err)\n\t\tcase token < 0:",
		Package: "./internal/node",
		Tests:   "TestConfirmedReadRefusedAfterRevoke",
	},
	// Appends: the fenced transaction compares the leader key's create
	// revision (the token) and the log head.
	{
		Name:    "append-no-token-compare",
		File:    "internal/walship/appender.go",
		Old:     "fencing.Guard(a.cfg.LeaderKey, a.cfg.Token),\n\t\t\theadCmp,",
		New:     "headCmp,",
		Package: "./internal/walship",
		Tests:   "TestStaleTokenRejectedByEtcd|TestRevokedWriterIsFenced",
	},
	{
		Name:    "append-no-head-compare",
		File:    "internal/walship/appender.go",
		Old:     `headCmp := clientv3.Compare(clientv3.Value(k.Head()), "=", formatIndex(head))`,
		New:     `headCmp := clientv3.Compare(clientv3.Version(k.Head()), ">", -1)`,
		Package: "./internal/walship",
		Tests:   "TestStaleHeadRefusedWithCurrentToken",
	},
	// A deposed appender stops at its first failed append: it fails that
	// batch and everything queued, and refuses what comes after.
	{
		Name:    "appender-continues-after-failure",
		File:    "internal/walship/appender.go",
		Old:     "if err != nil {\n\t\t\t\ta.stop(err, batch)\n\t\t\t\treturn\n\t\t\t}",
		New:     "if err != nil {\n\t\t\t\tfor _, p := range batch {\n\t\t\t\t\tp.done <- appendResult{err: err}\n\t\t\t\t}\n\t\t\t\tcontinue\n\t\t\t}",
		Package: "./internal/walship",
		Tests:   "TestRevokedWriterIsFenced",
	},
	// Replay: a gap, a bad checksum or a token going back stops replay for
	// good.
	{
		Name:    "tailer-skips-gap",
		File:    "internal/walship/tailer.go",
		Old:     `return fmt.Errorf("next index is %d but batch %s starts at %d: %w", applied+1, key, b.First, ErrGap)`,
		New:     `applied = b.First - 1`,
		Package: "./internal/node",
		Tests:   "TestGapStopsReplayAndPromotion",
	},
	{
		Name:    "tailer-accepts-token-regression",
		File:    "internal/walship/tailer.go",
		Old:     "if r.Token < last {",
		New:     "if false && r.Token < last {",
		Package: "./internal/walship",
		Tests:   "TestTailerStopsOnBrokenLog",
	},
	{
		Name:    "checksum-ignored",
		File:    "internal/walship/record.go",
		Old:     "if got := crc32.Checksum(body, castagnoli); got != sum {",
		New:     "if got := crc32.Checksum(body, castagnoli); false && got != sum {",
		Package: "./internal/walship",
		Tests:   "TestTailerStopsOnBrokenLog",
	},
	// Promotion gate: catch up to the head read after winning.
	{
		Name:    "gate-no-catch-up",
		File:    "internal/node/node.go",
		Old:     "head, err := tailer.CatchUp(lctx)",
		New:     "head, err := n.state.AppliedIndex(), error(nil)",
		Package: "./internal/node",
		Tests:   "TestGateHoldsUntilCaughtUp",
	},
	// Dedup: a retried (client, seq) executes once.
	{
		Name:    "dedup-ignored-on-apply",
		File:    "internal/meta/state.go",
		Old:     "if outcome, res := s.dedupLocked(op); outcome != run {",
		New:     "if outcome, res := s.dedupLocked(op); false && outcome != run {",
		Package: "./internal/node",
		Tests:   "TestConcurrentProposalsExecuteOnce",
	},
	// Chunkservers: an older token is refused.
	{
		Name:    "chunkserver-accepts-older-token",
		File:    "internal/fencing/highest.go",
		Old:     "case t < h.highest:",
		New:     "case false && t < h.highest:",
		Package: "./internal/fencing",
		Tests:   "TestHighestRefusesOlderAcrossRestart",
	},
}
