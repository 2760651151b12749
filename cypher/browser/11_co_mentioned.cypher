// Co-mentioned entities: what appears in the same chunks as $name, most shared chunks first.
// params: {"name": "PCA", "top": 20}
MATCH (e:Entity)<-[:MENTIONS]-(c:Chunk)-[:MENTIONS]->(o:Entity)
WHERE toLower(e.name) = toLower($name) AND o.id <> e.id
RETURN o.name AS entity, o.type AS type, count(DISTINCT c) AS shared_chunks
ORDER BY shared_chunks DESC, entity
LIMIT $top
