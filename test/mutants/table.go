package main

// mutants is the table of deliberate breakages. Each one replaces Old (which
// must occur exactly once in File) by New in a scratch copy of the
// repository and runs `go test -run Tests Package`: the tests must fail.
//
// Adding a mutant is one entry here (and a row in docs/mutants.md). Keep Old
// short but unique, and New compiling: a mutant that does not build is
// reported as an error, not as caught.
var mutants = []mutant{
	// Reads: Stat and List answer only after confirming leadership in etcd.
	{
		Name:    "stat-unconfirmed",
		File:    "internal/rpcserver/server.go",
		Old:     "var e meta.Entry\n\terr := s.n.ReadConfirmed(ctx, func(st *meta.State) error {",
		New:     "var e meta.Entry\n\terr := s.n.Read(func(st *meta.State) error {",
		Package: "./internal/rpcserver",
		Tests:   "TestReadRefusedByDeposedPrimary",
	},
	{
		Name:    "list-unconfirmed",
		File:    "internal/rpcserver/server.go",
		Old:     "var es []meta.Entry\n\terr := s.n.ReadConfirmed(ctx, func(st *meta.State) error {",
		New:     "var es []meta.Entry\n\terr := s.n.Read(func(st *meta.State) error {",
		Package: "./internal/rpcserver",
		Tests:   "TestReadRefusedByDeposedPrimary",
	},
	{
		Name:    "stat-unconfirmed-client",
		File:    "internal/rpcserver/server.go",
		Old:     "var e meta.Entry\n\terr := s.n.ReadConfirmed(ctx, func(st *meta.State) error {",
		New:     "var e meta.Entry\n\terr := s.n.Read(func(st *meta.State) error {",
		Package: "./client",
		Tests:   "TestReadAfterFailoverSeesAcknowledgedWrite",
	},
	// The confirmation made a no-op: no etcd round trip at all.
	{
		Name:    "stat-unconfirmed-faultsuite",
		File:    "internal/rpcserver/server.go",
		Old:     "var e meta.Entry\n\terr := s.n.ReadConfirmed(ctx, func(st *meta.State) error {",
		New:     "var e meta.Entry\n\terr := s.n.Read(func(st *meta.State) error {",
		Package: "./test/e2e",
		Tests:   "TestFaultSuiteShort",
	},
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
