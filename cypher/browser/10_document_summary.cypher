// A document's summaries (reduce summaries first) for documents whose path contains $doc.
// params: {"doc": ".txt", "top": 10}
MATCH (s:Summary)-[:SUMMARIZES]->(d:Document)
WHERE toLower(d.path) CONTAINS toLower($doc)
RETURN d.path AS path, s.level AS level, s.text AS summary
ORDER BY path, level DESC
LIMIT $top
