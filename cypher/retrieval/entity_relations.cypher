// The walk's neighbourhood of entities $ids, part 2: each entity-entity relation as (entity,
// the other end, confidence), either direction.
UNWIND $ids AS id
MATCH (:Entity {id: id})-[r]-(o:Entity)
WHERE r.confidence IS NOT NULL AND o.id <> id
RETURN id, o.id AS other, r.confidence AS confidence
