// The walk's neighbourhood of chunks $ids: each entity a chunk mentions, with the smallest
// offset of its mentions there (what the edge weight depends on).
UNWIND $ids AS id
MATCH (c:Chunk {id: id})-[m:MENTIONS]->(e:Entity)
RETURN id, e.id AS entity_id, min(m.start - c.start) AS offset
