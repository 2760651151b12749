// Neo4j only (its vector index takes a LIST<FLOAT> property): {id, embedding} per chunk.
// FalkorDB needs vecf32(): see upsert/chunk_embeddings_falkordb.
UNWIND $rows AS row
MATCH (c:Chunk {id: row.id})
SET c.embedding = row.embedding
