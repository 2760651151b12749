// Reading order: follow NEXT_CHUNK from the first chunk of documents whose path contains $doc.
// params: {"doc": ".txt", "top": 50}
MATCH (first:Chunk)-[:FROM_DOCUMENT]->(d:Document)
WHERE toLower(d.path) CONTAINS toLower($doc) AND first.index = 0
MATCH p = (first)-[:NEXT_CHUNK*0..]->(c:Chunk)
RETURN d.path AS path, c.index AS chunk, length(p) AS steps, left(c.text, 160) AS preview
ORDER BY path, chunk
LIMIT $top
