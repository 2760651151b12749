// The walk's neighbourhood of entities $ids, part 1: each mention as (entity, chunk, offset of
// the mention in the chunk), one row per edge (flat rows parse fastest).
UNWIND $ids AS id
MATCH (c:Chunk)-[m:MENTIONS]->(:Entity {id: id})
RETURN id, c.id AS chunk_id, m.start - c.start AS offset
