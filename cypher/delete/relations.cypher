// Remove entity-entity relations: rows {id, head_id, tail_id} (head/tail find them by index).
UNWIND $rows AS row
MATCH (h:Entity {id: row.head_id})-[r]->(t:Entity {id: row.tail_id})
WHERE r.id = row.id
DELETE r
