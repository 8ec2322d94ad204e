package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// txOptions says how a batched transaction (inBatchTx) commits.
type txOptions struct {
	// asyncCommit sets synchronous_commit = off for this transaction only:
	// COMMIT returns before the WAL is flushed to disk. A server crash can
	// lose the newest such transactions (at most about 3 ×
	// wal_writer_delay, 600 ms by default) as a whole, never a part of one
	// and never a later synchronous commit's prefix: WAL is flushed in
	// order, so every synchronous COMMIT also makes durable the
	// asynchronous ones before it. Only for data that is fetched again
	// when lost (see UpsertMarketRecords).
	asyncCommit bool
	// commitInBatch sends COMMIT with the statements, in the same round
	// trip: a failed statement makes the server skip the rest of the batch
	// (COMMIT included) and the transaction is rolled back as usual, but
	// when every statement succeeds the transaction is committed before
	// read has looked at the results. Only for transactions whose read
	// makes no decision that must undo the writes (it only reports the
	// server's errors; see UpsertMarketRecords).
	commitInBatch bool
}

// inBatchTx runs one transaction in two round trips to the server instead
// of one per statement (one with opts.commitInBatch): BEGIN and every
// statement queue adds are sent
// together as one pgx.Batch (pipelined), read in order by read, then COMMIT
// is sent, or ROLLBACK when read, a statement or the batch failed (nothing
// is written). read must consume every queued result in order
// (pgx.BatchResults); a statement it does not read that failed still fails
// the transaction. Like inTx, the schema is checked first and errors are
// wrapped by s.wrap with op. A connection used within pingAfterIdle is not
// pinged first unless its socket looks dead (withoutRecentPing).
func (s *Store) inBatchTx(ctx context.Context, op string, opts txOptions, queue func(b *pgx.Batch), read func(br pgx.BatchResults) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(withoutRecentPing(ctx))
	if err != nil {
		return s.wrap(op+": acquire a connection", err)
	}
	// Release destroys the connection instead of pooling it when it is
	// closed or still inside a transaction (a failed ROLLBACK below).
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if opts.asyncCommit {
		b.Queue("SET LOCAL synchronous_commit = off")
	}
	queue(b)
	if opts.commitInBatch {
		b.Queue("COMMIT")
	}
	br := conn.SendBatch(ctx, b)
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if opts.asyncCommit {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("set synchronous_commit: %w", err)
			}
		}
		// With commitInBatch, COMMIT's answer is read by br.Close below:
		// after statements that all succeeded it can only be COMMIT or an
		// error, which Close returns.
		return read(br)
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		// Bounded so a dead network cannot hang us; an error leaves the
		// connection inside the transaction, and Release drops it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(rctx, "ROLLBACK")
		return s.wrap(op, err)
	}
	if opts.commitInBatch {
		return nil
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		return s.wrap(op+": commit", err)
	}
	if err := commitTag(tag); err != nil {
		return s.wrap(op+": commit", err)
	}
	return nil
}

// commitTag checks the answer to COMMIT: a transaction that had failed
// answers ROLLBACK.
func commitTag(tag pgconn.CommandTag) error {
	if tag.String() != "COMMIT" {
		return fmt.Errorf("expected COMMIT, the server answered %q (the transaction had failed and was rolled back)", tag.String())
	}
	return nil
}
