// kg schema for Neo4j 5 (>= 5.18 for vector indexes). Run by Neo4jStore.apply_schema() before any
// load: MERGE on an unindexed id scans every node (100x slower). Idempotent (IF NOT EXISTS).
CREATE CONSTRAINT kg_document_id IF NOT EXISTS FOR (n:Document) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kg_chunk_id IF NOT EXISTS FOR (n:Chunk) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kg_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kg_summary_id IF NOT EXISTS FOR (n:Summary) REQUIRE n.id IS UNIQUE;
CREATE INDEX kg_chunk_doc_id IF NOT EXISTS FOR (n:Chunk) ON (n.doc_id);
CREATE INDEX kg_entity_type IF NOT EXISTS FOR (n:Entity) ON (n.type);
CREATE INDEX kg_summary_doc_id IF NOT EXISTS FOR (n:Summary) ON (n.doc_id);
// full-text: CALL db.index.fulltext.queryNodes('kg_chunk_text', $q) / ('kg_entity_name', $q)
CREATE FULLTEXT INDEX kg_chunk_text IF NOT EXISTS FOR (n:Chunk) ON EACH [n.text];
CREATE FULLTEXT INDEX kg_entity_name IF NOT EXISTS FOR (n:Entity) ON EACH [n.name];
// vector (MiniLM, 384 dims): CALL db.index.vector.queryNodes('kg_chunk_embedding', $k, $v)
// returns (1 + cosine) / 2 as score (higher is closer); neo4j-graphrag's retrievers take
// index_name='kg_chunk_embedding' (docs/neo4j.md). kg_entity_embedding: entity names' vectors.
CREATE VECTOR INDEX kg_chunk_embedding IF NOT EXISTS FOR (n:Chunk) ON (n.embedding) OPTIONS {indexConfig: {`vector.dimensions`: 384, `vector.similarity_function`: 'cosine'}};
CREATE VECTOR INDEX kg_entity_embedding IF NOT EXISTS FOR (n:Entity) ON (n.embedding) OPTIONS {indexConfig: {`vector.dimensions`: 384, `vector.similarity_function`: 'cosine'}};
