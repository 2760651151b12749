// upsert/chunks with each chunk's vector {…, embedding} in the same write (Neo4j: a LIST<FLOAT>).
UNWIND $rows AS row
MATCH (d:Document {id: row.doc_id})
MERGE (c:Chunk {id: row.id})
SET c.doc_id = row.doc_id, c.index = row.index, c.start = row.start, c.end = row.end,
    c.text = row.text, c.embedding = row.embedding
MERGE (c)-[:FROM_DOCUMENT]->(d)
