// kg schema for FalkorDB. Run by FalkorDBStore.apply_schema() before any load: MERGE on an
// unindexed id scans every node (100x slower). Each id index is then promoted to a UNIQUE
// constraint with GRAPH.CONSTRAINT (a command, not Cypher), on the labels listed in
// kg/store/base.py NODE_LABELS. Re-running is harmless: "already indexed" errors are ignored.
CREATE INDEX FOR (n:Document) ON (n.id);
CREATE INDEX FOR (n:Chunk) ON (n.id);
CREATE INDEX FOR (n:Chunk) ON (n.doc_id);
CREATE INDEX FOR (n:Entity) ON (n.id);
CREATE INDEX FOR (n:Entity) ON (n.type);
CREATE INDEX FOR (n:Summary) ON (n.id);
CREATE INDEX FOR (n:Summary) ON (n.doc_id);
// full-text: CALL db.idx.fulltext.queryNodes('Chunk', $q) / ('Entity', $q)
CREATE FULLTEXT INDEX FOR (n:Chunk) ON (n.text);
CREATE FULLTEXT INDEX FOR (n:Entity) ON (n.name);
// vector (MiniLM, 384 dims): CALL db.idx.vector.queryNodes('Chunk', 'embedding', $k, vecf32($v))
// returns a cosine DISTANCE as score (lower is closer); Entity.embedding holds the name's vector.
// HNSW with M 8 (default 16): half the insert cost of a load's vectors (bench/load.py)
CREATE VECTOR INDEX FOR (n:Chunk) ON (n.embedding) OPTIONS {dimension: 384, similarityFunction: 'cosine', M: 8, efConstruction: 64};
CREATE VECTOR INDEX FOR (n:Entity) ON (n.embedding) OPTIONS {dimension: 384, similarityFunction: 'cosine', M: 8, efConstruction: 64};
