// The walk's neighbourhood of chunks $ids: the entities each mentions, with the offset.
UNWIND $ids AS id
MATCH (c:Chunk {id: id})-[m:MENTIONS]->(e:Entity)
RETURN id, collect([e.id, m.start - c.start]) AS mentions
