// Entity type counts: how many entities of each ontology type.
// params: {}
MATCH (e:Entity)
RETURN e.type AS type, count(*) AS entities
ORDER BY entities DESC, type
