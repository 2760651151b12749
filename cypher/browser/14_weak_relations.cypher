// Weak relations to review: entity-entity relations with confidence below $threshold.
// params: {"threshold": 0.5, "top": 50}
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.confidence < $threshold
RETURN h.name AS head, type(r) AS relation, t.name AS tail, r.confidence AS confidence,
       r.extractor AS extractor
ORDER BY confidence, head
LIMIT $top
