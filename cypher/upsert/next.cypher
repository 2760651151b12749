// Reading order: one row per consecutive pair of chunks {prev_id, next_id} of one document.
// NEXT_CHUNK is neo4j-graphrag's name (bare NEXT is a keyword in newer Cypher/GQL grammars).
UNWIND $rows AS row
MATCH (a:Chunk {id: row.prev_id})
MATCH (b:Chunk {id: row.next_id})
MERGE (a)-[:NEXT_CHUNK]->(b)
