// An entity's neighbourhood: the entities directly related to $name (case-insensitive), as a graph.
// params: {"name": "Gradient descent", "top": 50}
MATCH (e:Entity)
WHERE toLower(e.name) = toLower($name)
MATCH (e)-[r]-(n:Entity)
RETURN e, r, n
LIMIT $top
