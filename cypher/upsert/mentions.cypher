// Where a chunk names an entity: {chunk_id, entity_id, start, end, text}, offsets into the document.
UNWIND $rows AS row
MATCH (c:Chunk {id: row.chunk_id})
MATCH (e:Entity {id: row.entity_id})
MERGE (c)-[m:MENTIONS {start: row.start, end: row.end}]->(e)
SET m.text = row.text
