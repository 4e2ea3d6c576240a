package chunkmaster

// Attached is how many chunkservers are registered with this master's
// current term (0 when it does not serve). Cheap enough for a metrics scrape.
func (m *Manager) Attached() int {
	m.mu.Lock()
	t := m.term
	m.mu.Unlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.servers)
}

// ReplicationHealth is the last replica scan's count of chunks with fewer
// current replicas than chunk.replication (but at least one), and of chunks
// with none (0, 0 when this master does not serve).
func (m *Manager) ReplicationHealth() (underReplicated, missing int) {
	m.mu.Lock()
	t := m.term
	m.mu.Unlock()
	if t == nil {
		return 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.underReplicated, t.missing
}
