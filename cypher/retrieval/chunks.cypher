// Every chunk with its document's path, in reading order (the retrieval caches' chunk list).
MATCH (c:Chunk)-[:FROM_DOCUMENT]->(d:Document)
RETURN c.id AS id, c.doc_id AS doc_id, c.index AS index, c.start AS start, c.end AS end,
       c.text AS text, d.path AS path
ORDER BY path, index, start
