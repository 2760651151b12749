// Remove documents by id ($ids) with their chunks and summaries; DETACH also drops
// FROM_DOCUMENT, NEXT_CHUNK, MENTIONS and SUMMARIZES. Entities and relations are removed
// separately (they are shared).
UNWIND $ids AS id
MATCH (d:Document {id: id})
OPTIONAL MATCH (c:Chunk)-[:FROM_DOCUMENT]->(d)
OPTIONAL MATCH (s:Summary)-[:SUMMARIZES]->(d)
DETACH DELETE c, s, d
