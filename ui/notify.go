package ui

// NotifyAll tells every session that stored data changed outside any of
// them (unsubscribes folded in the background), so open screens reload.
func (s *SSHServer) NotifyAll(what DataKind) { s.broadcast(nil, what) }
