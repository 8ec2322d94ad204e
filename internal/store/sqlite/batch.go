package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxBatchRows is the most rows one multi-row INSERT ... VALUES statement
// of execRows binds, a power of two (17 columns of predictions: 1,088
// parameters at 64, below SQLite's 32,766). One statement per row cost a
// database/sql and driver round trip each (bind, step, reset, mutexes and
// ~16 allocations). 16, not 64: a statement's in-memory undo journal
// (temp_store=MEMORY) grows with its rows: at 64 the 1,000-remote-model
// bench's host peak RSS went over its 200 MB target (201.4 MB in the full
// bench at 74fb1b8); two A/B pairs, loaded machine: 197.9/197.6 MB at 64,
// 194.0/190.7 MB at 16.
const maxBatchRows = 16

// rowsStmt is a multi-row statement: head, then " VALUES " and one
// placeholder group row per row, then tail (e.g. an ON CONFLICT clause).
// Build it with newRowsStmt.
type rowsStmt struct {
	cols  int      // parameters of one row
	most  int      // most rows per statement: a power of two ≤ maxBatchRows
	texts []string // texts[k]: the statement binding 1<<k rows, k ≤ log2(maxBatchRows)
}

// newRowsStmt returns the multi-row statement head VALUES row, row, ...
// tail; row holds cols placeholders.
func newRowsStmt(head, row, tail string, cols, maxRows int) *rowsStmt {
	q := &rowsStmt{cols: cols, most: maxRows}
	for n := 1; n <= maxRows; n *= 2 {
		q.texts = append(q.texts, rowsText(head, row, tail, n))
	}
	return q
}

// text returns the statement binding n rows (a chunkSize).
func (q *rowsStmt) text(n int) string {
	k := 0
	for 1<<k < n {
		k++
	}
	return q.texts[k]
}

// rowsText returns head VALUES row × n tail.
func rowsText(head, row, tail string, n int) string {
	var b strings.Builder
	b.Grow(len(head) + 8 + n*(len(row)+1) + len(tail))
	b.WriteString(head)
	b.WriteString(" VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteByte(' ')
	b.WriteString(tail)
	return b.String()
}

// chunkSize is how many of the rows left execRows binds next: most while
// that many are left, then the largest power of two that fits, so a
// statement kind has at most 5 texts (16, 8, 4, 2, 1), each prepared once
// on the writer (txStmt).
func chunkSize(left, most int) int {
	if left >= most {
		return most
	}
	n := 1
	for n*2 <= left {
		n *= 2
	}
	return n
}

// execRows runs q in tx for the rows [0, n) in order, a chunk of rows per
// statement (chunkSize), with args(i, dst) appending row i's q.cols
// arguments to dst; it returns the rows affected. A chunk refused by a
// constraint (statement rolled back, transaction still open) is run again
// one row per statement, so the error names its row: rowErr(i, err) wraps
// the error of row i (or of the first row of a chunk that failed
// otherwise).
func (s *Store) execRows(ctx context.Context, tx *sql.Tx, q *rowsStmt, n int, args func(i int, dst []any) []any, rowErr func(i int, err error) error) (int64, error) {
	var total int64
	buf := make([]any, 0, min(n, q.most)*q.cols)
	for start := 0; start < n; {
		size := chunkSize(n-start, q.most)
		buf = buf[:0]
		for i := start; i < start+size; i++ {
			buf = args(i, buf)
		}
		affected, err := s.execChunk(ctx, tx, q, size, buf)
		if err != nil {
			if size == 1 || !isConstraint(err) {
				return total, rowErr(start, err)
			}
			for i := start; i < start+size; i++ {
				one, err := s.execChunk(ctx, tx, q, 1, args(i, buf[:0]))
				if err != nil {
					return total, rowErr(i, err)
				}
				total += one
			}
			start += size
			continue
		}
		total += affected
		start += size
	}
	return total, nil
}

// execChunk runs q for size rows with their arguments args.
func (s *Store) execChunk(ctx context.Context, tx *sql.Tx, q *rowsStmt, size int, args []any) (int64, error) {
	stmt, err := s.txStmt(ctx, tx, q.text(size))
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// isConstraint reports whether err is SQLite's SQLITE_CONSTRAINT, which
// rolls back the failing statement only (the transaction stays open).
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}
