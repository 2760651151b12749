// Find entities whose name or aliases contain $text (case-insensitive), with their mention count.
// params: {"text": "learn", "top": 25}
MATCH (e:Entity)
WHERE toLower(e.name) CONTAINS toLower($text)
   OR any(alias IN e.aliases WHERE toLower(alias) CONTAINS toLower($text))
OPTIONAL MATCH (c:Chunk)-[:MENTIONS]->(e)
RETURN e.name AS name, e.type AS type, e.aliases AS aliases, count(c) AS mentions
ORDER BY mentions DESC, name
LIMIT $top
