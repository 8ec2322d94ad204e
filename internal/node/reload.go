package node

// ReloadModel restarts model id from its (rebuilt) binary or (edited)
// Python code, whose SHA-256 is now sha256Hex: every later launch verifies
// it. The other models and the workers keep running.
func (n *Node) ReloadModel(id, sha256Hex string) error {
	if n.models == nil {
		return errNoRole(RolePredict)
	}
	return n.models.ReloadSHA256(id, sha256Hex)
}

// ReloadChallenge restarts the challenge plugin from its (rebuilt) binary,
// whose SHA-256 is now sha256Hex.
func (n *Node) ReloadChallenge(sha256Hex string) error { return n.challenge.ReloadSHA256(sha256Hex) }
