// Record the load version {version, state, workspace} (one KgMeta node; not part of the counts).
MERGE (m:KgMeta {id: 'load'})
SET m.version = $version, m.state = $state, m.workspace = $workspace
