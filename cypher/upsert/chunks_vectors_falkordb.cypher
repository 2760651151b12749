// upsert/chunks with each chunk's vector {…, embedding} in the same write (FalkorDB: vecf32;
// one index update per node instead of two: its full-text index re-reads a node on every SET).
UNWIND $rows AS row
MATCH (d:Document {id: row.doc_id})
MERGE (c:Chunk {id: row.id})
SET c.doc_id = row.doc_id, c.index = row.index, c.start = row.start, c.end = row.end,
    c.text = row.text, c.embedding = vecf32(row.embedding)
MERGE (c)-[:FROM_DOCUMENT]->(d)
