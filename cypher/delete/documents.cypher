// Remove documents by id ($ids) with their chunks and summaries; DETACH also drops HAS_CHUNK,
// NEXT, MENTIONS and SUMMARIZES. Entities and relations are removed separately (they are shared).
UNWIND $ids AS id
MATCH (d:Document {id: id})
OPTIONAL MATCH (d)-[:HAS_CHUNK]->(c:Chunk)
OPTIONAL MATCH (s:Summary)-[:SUMMARIZES]->(d)
DETACH DELETE c, s, d
