package postgres

import (
	"context"
	"testing"
	"time"
)

// TestConnAlive checks the socket test shouldPing relies on to skip the
// ping of a recently used connection: a live idle connection is alive,
// and the same connection is not once the server has terminated its
// backend (without any statement sent on it).
func TestConnAlive(t *testing.T) {
	s, dbURL := openMigrated(t)
	killer := openDB(t, dbURL)
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if !connAlive(conn.Conn().PgConn().Conn()) {
		t.Fatal("connAlive: expected true for a live idle connection, found false")
	}
	pid := conn.Conn().PgConn().PID()
	if _, err := killer.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", int64(pid)); err != nil {
		t.Fatalf("terminate backend %d: %v", pid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for connAlive(conn.Conn().PgConn().Conn()) {
		if time.Now().After(deadline) {
			t.Fatalf("connAlive: expected false within 5 s of terminating backend %d, found true", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
