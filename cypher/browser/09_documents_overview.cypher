// Documents overview: every document with its number of chunks and summaries.
// params: {}
MATCH (d:Document)
OPTIONAL MATCH (c:Chunk)-[:FROM_DOCUMENT]->(d)
WITH d, count(c) AS chunks
OPTIONAL MATCH (s:Summary)-[:SUMMARIZES]->(d)
RETURN d.path AS path, d.title AS title, d.chars AS chars, chunks, count(s) AS summaries
ORDER BY path
