// Entity-entity facts of ONE type {{rel_type}} (validated by kg.cypher against the ontology):
// {id, head_id, tail_id, chunk_ids, doc_ids, confidence, extractor, description, predicate}.
UNWIND $rows AS row
MATCH (h:Entity {id: row.head_id})
MATCH (t:Entity {id: row.tail_id})
MERGE (h)-[r:{{rel_type}} {id: row.id}]->(t)
SET r.chunk_ids = row.chunk_ids, r.doc_ids = row.doc_ids, r.confidence = row.confidence,
    r.extractor = row.extractor, r.description = row.description, r.predicate = row.predicate
