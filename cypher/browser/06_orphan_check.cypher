// Orphan check: entities that nothing mentions and nothing relates to (should be none).
// params: {"top": 100}
MATCH (e:Entity)
OPTIONAL MATCH (e)-[r]-()
WITH e, count(r) AS degree
WHERE degree = 0
RETURN e.id AS id, e.name AS name, e.type AS type
LIMIT $top
