// One row per Chunk: {id, doc_id, index, start, end, text}; its Document must already exist.
UNWIND $rows AS row
MATCH (d:Document {id: row.doc_id})
MERGE (c:Chunk {id: row.id})
SET c.doc_id = row.doc_id, c.index = row.index, c.start = row.start, c.end = row.end,
    c.text = row.text
MERGE (c)-[:FROM_DOCUMENT]->(d)
