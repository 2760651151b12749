// Neo4j only (its vector index takes a LIST<FLOAT> property): {id, embedding} per entity (its
// name's MiniLM vector, for linking). FalkorDB needs vecf32(): see entity_embeddings_falkordb.
UNWIND $rows AS row
MATCH (e:Entity {id: row.id})
SET e.embedding = row.embedding
