package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pingAfterIdle is how long a pooled connection may sit idle before it is
// pinged when taken from the pool (pgxpool's own default threshold). A
// connection the server has killed meanwhile (pg_terminate_backend, a
// restart) is caught by the ping, dropped and replaced by a fresh one.
const pingAfterIdle = time.Second

// skipPingKey marks the context of an acquire that may skip the ping of a
// recently used connection (withoutRecentPing).
type skipPingKey struct{}

// withoutRecentPing returns ctx marked so that shouldPing skips the ping
// of a connection used within pingAfterIdle whose socket looks alive. Only
// for writes whose callers retry a store.ErrUnavailable and that write
// nothing when they fail before COMMIT (inBatchTx): a backend killed in
// the instant before the acquire (its FATAL not yet on the socket) fails
// that one call instead of being caught by the ping.
func withoutRecentPing(ctx context.Context) context.Context {
	return context.WithValue(ctx, skipPingKey{}, true)
}

// shouldPing decides whether pgxpool pings a connection it is about to
// hand out. A connection idle for more than pingAfterIdle is always
// pinged (one round trip; it also catches a peer that vanished without
// closing the socket), and so is every connection acquired without the
// withoutRecentPing mark (reads: a call right after a server restart or
// pg_terminate_backend works). A marked acquire of a recently used
// connection pings only when its socket shows it may be dead (connAlive:
// closed by the server, an error or an unsolicited message pending),
// which costs one non-blocking system call instead of a round trip: the
// feed record's upsert and the predict cycle's save, back to back, are
// one round trip fewer each.
func shouldPing(ctx context.Context, p pgxpool.ShouldPingParams) bool {
	if p.IdleDuration > pingAfterIdle || ctx.Value(skipPingKey{}) == nil {
		return true
	}
	return !connAlive(p.Conn.PgConn().Conn())
}
