package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds each statement cache. Every statement text of this
// package is a constant or one of a few constant combinations, so the bound
// is only a guard; past it, statements are prepared per call as before.
const maxCachedStmts = 256

// stmtCache keeps prepared statements of one connection pool by SQL text,
// so hot statements are parsed and planned by SQLite once per connection
// instead of once per call (database/sql re-prepares a cached statement on
// another pool connection transparently).
//
// For the writer pool (one connection, held by every write transaction) a
// statement first met inside a transaction is prepared on that transaction
// and queued in wanted; writeTx prepares the queued texts on the pool before
// it begins the next transaction, and from then on transactions use the
// cached statement through Tx.StmtContext, which reuses the connection's
// prepared statement.
type stmtCache struct {
	db *sql.DB

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
	closed bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// lookup returns the cached statement of q, or nil.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[q]
}

// get returns the cached statement of q, preparing it on the pool when it
// is not cached yet. It returns nil (and the prepare error, if any) when q
// cannot be cached; the caller then runs q unprepared, which reports the
// same error SQLite gave.
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.stmts[q]
	full := c.closed || len(c.stmts) >= maxCachedStmts
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	if full {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return c.add(q, st), nil
}

// add caches st under q and returns the cached statement (an earlier one
// wins; st is closed then, or when the cache is closed or full).
func (c *stmtCache) add(q string, st *sql.Stmt) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stmts[q]; ok {
		_ = st.Close()
		return old
	}
	if c.closed || len(c.stmts) >= maxCachedStmts {
		_ = st.Close()
		return nil
	}
	c.stmts[q] = st
	return st
}

// want queues q to be prepared on the pool by prepareWanted.
func (c *stmtCache) want(q string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && len(c.stmts)+len(c.wanted) < maxCachedStmts {
		c.wanted[q] = true
	}
}

// prepareWanted prepares the queued statements on the pool. It must not be
// called while the caller holds a pool connection (a transaction): with the
// one-connection writer pool it would wait for itself. A statement that
// fails to prepare is dropped (calls keep preparing it per transaction and
// report SQLite's error there).
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	qs := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		qs = append(qs, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range qs {
		if c.lookup(q) != nil {
			continue
		}
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.add(q, st)
	}
}

// close closes every cached statement; later calls prepare per call.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var first error
	for q, st := range c.stmts {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.stmts, q)
	}
	clear(c.wanted)
	return first
}

// query runs q on the reader pool with a cached prepared statement.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st, _ := s.rstmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, q, args...)
}

// queryRow runs q on the reader pool with a cached prepared statement.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st, _ := s.rstmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, q, args...)
}

// txStmt returns q prepared for tx (a writer transaction): the writer's
// cached statement bound to tx, or, the first time q is met, a statement
// prepared on tx (q is then cached before the next transaction). The caller
// closes it.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st := s.wstmts.lookup(q); st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	s.wstmts.want(q)
	return tx.PrepareContext(ctx, q)
}

// txExec executes q once in tx through txStmt.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := s.txStmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.ExecContext(ctx, args...)
}

// txQuery runs q in tx through txStmt. Closing the rows closes the
// statement's transaction binding with the transaction.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	st, err := s.txStmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}
