//go:build !unix

package postgres

import "net"

// connAlive cannot inspect the socket on this platform: it answers false,
// so every connection taken from the pool is pinged.
func connAlive(net.Conn) bool { return false }
