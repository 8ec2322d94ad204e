package node

// ReloadModel restarts model id from its (rebuilt) binary; the other
// models and the workers keep running.
func (n *Node) ReloadModel(id string) error {
	if n.models == nil {
		return errNoRole(RolePredict)
	}
	return n.models.Reload(id)
}

// ReloadChallenge restarts the challenge plugin from its (rebuilt) binary.
func (n *Node) ReloadChallenge() error { return n.challenge.Reload() }
