// One row per Summary {id, doc_id, level, text, source_chunk_ids, source_summary_ids}, linked to
// its Document (level 0 = one chunk's map summary, level >= 1 = reduce summaries).
UNWIND $rows AS row
MATCH (d:Document {id: row.doc_id})
MERGE (s:Summary {id: row.id})
SET s.doc_id = row.doc_id, s.level = row.level, s.text = row.text,
    s.source_chunk_ids = row.source_chunk_ids, s.source_summary_ids = row.source_summary_ids
MERGE (s)-[:SUMMARIZES]->(d)
