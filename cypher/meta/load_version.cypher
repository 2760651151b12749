// The store's load version: bumped by every `kg load` that writes (state 'loading' while it
// runs, 'ready' once its counts matched); retrieval caches are keyed to it.
OPTIONAL MATCH (m:KgMeta {id: 'load'})
RETURN m.version AS version, m.state AS state, m.workspace AS workspace
