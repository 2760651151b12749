// FalkorDB only (its vector index needs vecf32 values): {id, embedding} per entity (its name's
// MiniLM vector, for linking). Neo4j uses upsert/entity_embeddings_neo4j.
UNWIND $rows AS row
MATCH (e:Entity {id: row.id})
SET e.embedding = vecf32(row.embedding)
