// FalkorDB only (its vector index needs vecf32 values): {id, embedding} per chunk.
// The one backend-specific DML file; Neo4j uses upsert/chunk_embeddings_neo4j.
UNWIND $rows AS row
MATCH (c:Chunk {id: row.id})
SET c.embedding = vecf32(row.embedding)
