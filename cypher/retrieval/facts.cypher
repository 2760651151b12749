// Relations touching the entities $ids with both ends and their evidence chunks (answers'
// graph facts), best first.
UNWIND $ids AS id
MATCH (e:Entity {id: id})-[r]-(o:Entity)
WHERE r.confidence IS NOT NULL
WITH DISTINCT r, startNode(r) AS h, endNode(r) AS t
RETURN r.id AS id, type(r) AS type, r.confidence AS confidence, r.chunk_ids AS chunk_ids,
       h.id AS head_id, h.name AS head, h.type AS head_type,
       t.id AS tail_id, t.name AS tail, t.type AS tail_type
ORDER BY confidence DESC, id
LIMIT $top
