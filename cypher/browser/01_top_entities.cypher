// Top entities: the most connected entities (relations to other entities + chunk mentions).
// params: {"top": 25}
MATCH (e:Entity)
OPTIONAL MATCH (e)-[r]-(:Entity)
WITH e, count(r) AS relations
OPTIONAL MATCH (c:Chunk)-[:MENTIONS]->(e)
WITH e, relations, count(c) AS mentions
RETURN e.name AS entity, e.type AS type, relations, mentions
ORDER BY relations + mentions DESC, entity
LIMIT $top
