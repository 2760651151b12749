// The walk's neighbourhood of entities $ids: each mention (chunk, offset into the chunk) and
// each entity-entity relation (the other end, its confidence), one row per edge.
UNWIND $ids AS id
MATCH (e:Entity {id: id})
OPTIONAL MATCH (c:Chunk)-[m:MENTIONS]->(e)
WITH id, e, collect([c.id, m.start - c.start]) AS mentions
OPTIONAL MATCH (e)-[r]-(o:Entity)
WHERE r.confidence IS NOT NULL AND o.id <> id
RETURN id, mentions, collect([o.id, r.confidence, r.id]) AS relations
