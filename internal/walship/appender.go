package walship

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/fencing"
)

// StateMachine is what the log drives. Apply is called from one goroutine at
// a time, strictly in index order, and only with committed records; its
// result is handed back to whoever appended the record.
type StateMachine interface {
	Apply(r Record) any
	AppliedIndex() uint64
}

// AppenderConfig configures an Appender.
type AppenderConfig struct {
	Client *clientv3.Client
	Keys   Keys
	// LeaderKey and Token form the fencing guard of every transaction.
	LeaderKey string
	Token     fencing.Token
	// Head is the last fenced index, read after winning; the state machine
	// must have applied exactly up to it.
	Head uint64
	SM   StateMachine
	// MaxBatchBytes bounds one transaction (default 1 MiB; etcd refuses
	// requests over 1.5 MiB).
	MaxBatchBytes int
	// CommitTimeout bounds one batch's commit, retries included (default
	// 5 s); each attempt gets a tenth of it.
	CommitTimeout time.Duration
	// MaxQueueBytes bounds the records waiting for the next batch (default
	// 8 MiB). An Append that does not fit waits up to QueueWait (default
	// 1 s) for room, then fails with ErrBusy.
	MaxQueueBytes int
	QueueWait     time.Duration
	// Observe, if set, is told of every committed batch (metrics).
	Observe func(records, bytes int, took time.Duration)

	// beforeCommit, in tests, runs just before a transaction is sent.
	beforeCommit func()
	// wrapTxn, in tests, wraps each batch's transaction (lost answers,
	// failed attempts).
	wrapTxn func(txnFunc) txnFunc
}

// Result is the outcome of one append.
type Result struct {
	Index uint64
	Value any // what StateMachine.Apply returned
}

// Proposal states: queued until the loop takes it into a batch (sent), or
// its caller leaves first (abandoned: then it is never sent).
const (
	queued int32 = iota
	sent
	abandoned
)

type proposal struct {
	data  []byte
	state atomic.Int32
	done  chan appendResult
}

type appendResult struct {
	Result
	err error
}

// Appender is the primary's group-commit writer. Append may be called from
// many goroutines; one transaction is in flight at a time and carries
// everything queued while the previous one committed.
type Appender struct {
	cfg AppenderConfig

	mu      sync.Mutex // guards pending, bytes, space, stopErr
	pending []*proposal
	bytes   int           // queued bytes, at most MaxQueueBytes (but one record always fits)
	space   chan struct{} // closed and replaced whenever queued bytes are freed
	stopErr error         // non-nil once stopped

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// NewAppender starts the appender's loop under ctx, which should be the
// leadership context: when it ends, the appender stops.
func NewAppender(ctx context.Context, cfg AppenderConfig) (*Appender, error) {
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 1 << 20
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 5 * time.Second
	}
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = 8 << 20
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = time.Second
	}
	if got := cfg.SM.AppliedIndex(); got != cfg.Head {
		return nil, fmt.Errorf("walship: state machine applied %d but the log head is %d; catch up before appending", got, cfg.Head)
	}
	a := &Appender{cfg: cfg, wake: make(chan struct{}, 1), done: make(chan struct{}), space: make(chan struct{})}
	a.wg.Add(1)
	go a.loop(ctx)
	return a, nil
}

// Append queues data and waits until it is committed and applied, or fails.
// On ErrUnknownOutcome the record may be in the log; on every other error it
// is not. A full queue makes Append wait up to QueueWait for room and then
// fail with ErrBusy. ctx abandons the wait only: a record already sent stays
// sent, while one still queued is dropped, never sent (the error then wraps
// ctx's error and ErrAbandoned, not ErrUnknownOutcome).
func (a *Appender) Append(ctx context.Context, data []byte) (Result, error) {
	if len(data)+64 > a.cfg.MaxBatchBytes {
		return Result{}, fmt.Errorf("record of %d bytes exceeds the %d-byte batch limit: %w", len(data), a.cfg.MaxBatchBytes, ErrTooLarge)
	}
	p := &proposal{data: data, done: make(chan appendResult, 1)}
	if err := a.enqueue(ctx, p); err != nil {
		return Result{}, err
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
	select {
	case r := <-p.done:
		return r.Result, r.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(queued, abandoned) {
			return Result{}, fmt.Errorf("%w before it was sent: %w", ErrAbandoned, ctx.Err())
		}
		return Result{}, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
}

// enqueue adds p to the queue, waiting up to QueueWait for room.
func (a *Appender) enqueue(ctx context.Context, p *proposal) error {
	size := len(p.data) + 20
	var timer *time.Timer
	a.mu.Lock()
	for {
		if a.stopErr != nil {
			err := a.stopErr
			a.mu.Unlock()
			return err
		}
		if a.bytes+size <= a.cfg.MaxQueueBytes || len(a.pending) == 0 {
			break
		}
		space := a.space
		a.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(a.cfg.QueueWait)
			defer timer.Stop()
		}
		select {
		case <-space:
		case <-ctx.Done():
			return fmt.Errorf("%w while waiting for room in the queue: %w", ErrAbandoned, ctx.Err())
		case <-timer.C:
			return fmt.Errorf("%d bytes queued for the log (limit %d) for %v: %w", a.QueuedBytes(), a.cfg.MaxQueueBytes, a.cfg.QueueWait, ErrBusy)
		}
		a.mu.Lock()
	}
	a.pending = append(a.pending, p)
	a.bytes += size
	a.mu.Unlock()
	return nil
}

// Queued is how many appended records wait for the next transaction (not
// counting the one in flight).
func (a *Appender) Queued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

// QueuedBytes returns the bytes waiting for the next batch.
func (a *Appender) QueuedBytes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bytes
}

// Done is closed when the appender has stopped.
func (a *Appender) Done() <-chan struct{} { return a.done }

// Err is why the appender stopped, or nil while it runs.
func (a *Appender) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopErr
}

// Wait waits for the loop to end (after ctx ended or a failed append).
func (a *Appender) Wait() { a.wg.Wait() }

func (a *Appender) loop(ctx context.Context) {
	defer a.wg.Done()
	defer close(a.done)
	head := a.cfg.Head
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			a.stop(fmt.Errorf("%w: %v", ErrStopped, context.Cause(ctx)), nil)
			return
		case <-a.wake:
		}
		for {
			batch := a.take()
			if len(batch) == 0 {
				break
			}
			var err error
			buf, head, err = a.commit(ctx, buf[:0], head, batch)
			if err != nil {
				a.stop(err, batch)
				return
			}
		}
	}
}

// take removes up to MaxBatchBytes of queued proposals, dropping those
// whose callers left.
func (a *Appender) take() []*proposal {
	a.mu.Lock()
	defer a.mu.Unlock()
	var batch []*proposal
	size, i := 0, 0
	for ; i < len(a.pending); i++ {
		p := a.pending[i]
		s := len(p.data) + 20
		if len(batch) > 0 && size+s > a.cfg.MaxBatchBytes-batchHeaderLen-64 {
			break
		}
		a.bytes -= s
		if !p.state.CompareAndSwap(queued, sent) {
			continue // abandoned: never sent
		}
		size += s
		batch = append(batch, p)
	}
	clear(a.pending[:i])
	a.pending = a.pending[i:]
	if len(a.pending) == 0 {
		a.pending = nil
	}
	if i > 0 {
		close(a.space)
		a.space = make(chan struct{})
	}
	return batch
}

// commit writes one batch in one fenced transaction, then applies it.
func (a *Appender) commit(ctx context.Context, buf []byte, head uint64, ps []*proposal) ([]byte, uint64, error) {
	b := &Batch{First: head + 1, Token: a.cfg.Token, Committed: time.Now(), Records: make([]Record, len(ps))}
	for i, p := range ps {
		b.Records[i] = Record{Index: head + 1 + uint64(i), Token: a.cfg.Token, Data: p.data, Time: b.Committed}
	}
	buf = encodeBatch(buf, b)
	k := a.cfg.Keys
	headCmp := clientv3.Compare(clientv3.Value(k.Head()), "=", formatIndex(head))
	if head == 0 {
		headCmp = clientv3.Compare(clientv3.Version(k.Head()), "=", 0)
	}
	if a.cfg.beforeCommit != nil {
		a.cfg.beforeCommit()
	}
	if err := ctx.Err(); err != nil {
		// Leadership ended before the batch was sent: definitely not written.
		return buf, head, fmt.Errorf("%w: %v", ErrStopped, context.Cause(ctx))
	}
	// The transaction itself is not cancelled with leadership: etcd's compare
	// settles it either way, and a definite answer beats an unknown outcome.
	start := time.Now()
	send := func(tctx context.Context) (*clientv3.TxnResponse, error) {
		return a.cfg.Client.Txn(tctx).If(
			fencing.Guard(a.cfg.LeaderKey, a.cfg.Token),
			headCmp,
			clientv3.Compare(clientv3.CreateRevision(k.Batch(b.First)), "=", 0),
		).Then(
			clientv3.OpPut(k.Batch(b.First), string(buf)),
			clientv3.OpPut(k.Head(), formatIndex(b.Last())),
		).Commit()
	}
	if a.cfg.wrapTxn != nil {
		send = a.cfg.wrapTxn(send)
	}
	if err := a.sendBatch(context.WithoutCancel(ctx), send, k.Batch(b.First), buf); err != nil {
		if errors.Is(err, ErrDeposed) {
			return buf, head, fmt.Errorf("batch %d..%d with token %d (leader key %s gone or log head moved): %w", b.First, b.Last(), a.cfg.Token, a.cfg.LeaderKey, err)
		}
		return buf, head, fmt.Errorf("batch %d..%d: %w", b.First, b.Last(), err)
	}
	if a.cfg.Observe != nil {
		a.cfg.Observe(len(ps), len(buf), time.Since(start))
	}
	for i, p := range ps {
		v := a.cfg.SM.Apply(b.Records[i])
		p.done <- appendResult{Result: Result{Index: b.Records[i].Index, Value: v}}
	}
	return buf, b.Last(), nil
}

// stop fails the in-flight batch with err and everything queued with a
// definite not-written error, and refuses further appends.
func (a *Appender) stop(err error, inflight []*proposal) {
	a.mu.Lock()
	// Queued records were never sent: their error wraps ErrStopped only,
	// never ErrUnknownOutcome, whatever happened to the in-flight batch.
	a.stopErr = fmt.Errorf("%w: %v", ErrStopped, err)
	if errors.Is(err, ErrStopped) {
		a.stopErr = err
	}
	queued := a.pending
	a.pending, a.bytes = nil, 0
	close(a.space)
	a.space = make(chan struct{})
	a.mu.Unlock()
	for _, p := range inflight {
		p.done <- appendResult{err: err}
	}
	for _, p := range queued {
		p.done <- appendResult{err: a.stopErr}
	}
}
