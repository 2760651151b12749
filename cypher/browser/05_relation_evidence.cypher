// Which chunks support a relation: every relation from $head to $tail (by name) with the text
// of each chunk in its chunk_ids.
// params: {"head": "Machine Learning Specialization", "tail": "Gradient descent", "top": 20}
MATCH (h:Entity)-[r]->(t:Entity)
WHERE toLower(h.name) = toLower($head) AND toLower(t.name) = toLower($tail)
UNWIND r.chunk_ids AS chunk_id
MATCH (c:Chunk {id: chunk_id})
RETURN type(r) AS relation, r.confidence AS confidence, r.extractor AS extractor,
       c.doc_id AS document, c.text AS evidence
LIMIT $top
