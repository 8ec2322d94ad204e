//go:build unix

package postgres

import (
	"errors"
	"net"
	"syscall"
)

// connAlive reports whether the socket under c is open with nothing to
// read: a non-blocking peek (MSG_PEEK|MSG_DONTWAIT) that would block
// means the server has neither closed it nor sent anything since the last
// answer. Anything else (end of file: the server closed it; a pending
// message: e.g. the FATAL a terminated backend sends before closing; a
// socket error; a connection that is not a plain TCP or Unix socket, such
// as TLS) answers false, so the caller pings.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	// Control, not Read: Read takes the descriptor's read lock, which
	// pgconn's background reader (started for a large write) may hold,
	// blocked in a read, until the server next sends something. A peek
	// never blocks and never consumes; when that background read is in
	// flight it may have taken a FATAL message first, and the caller's
	// statement fails as it would if the backend died a moment later.
	err = raw.Control(func(fd uintptr) {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
	})
	return err == nil && alive
}
