// Relation type counts: how many entity-entity relations of each type, and their mean confidence.
// params: {}
MATCH (:Entity)-[r]->(:Entity)
RETURN type(r) AS relation, count(*) AS relations, avg(r.confidence) AS mean_confidence
ORDER BY relations DESC, relation
