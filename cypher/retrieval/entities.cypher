// Every entity with its mentions' spans (the linker's name table, cached per load version).
MATCH (e:Entity)
OPTIONAL MATCH (c:Chunk)-[m:MENTIONS]->(e)
WITH e, collect([c.id, c.doc_id, m.start, m.end, m.text]) AS mentions
RETURN e.id AS id, e.name AS name, e.type AS type, e.aliases AS aliases,
       e.description AS description, e.source AS source, mentions
ORDER BY id
