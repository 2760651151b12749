// What a document says about X: chunks of documents whose path contains $doc that mention $name.
// params: {"doc": ".txt", "name": "PCA", "top": 20}
MATCH (d:Document)<-[:FROM_DOCUMENT]-(c:Chunk)-[m:MENTIONS]->(e:Entity)
WHERE toLower(d.path) CONTAINS toLower($doc) AND toLower(e.name) = toLower($name)
RETURN d.title AS document, c.index AS chunk, m.text AS mention, c.text AS text
ORDER BY document, chunk
LIMIT $top
