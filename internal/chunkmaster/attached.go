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
