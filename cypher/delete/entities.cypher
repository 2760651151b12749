// Remove entities by id ($ids) with their mentions and relations (no document supports them).
UNWIND $ids AS id
MATCH (e:Entity {id: id})
DETACH DELETE e
