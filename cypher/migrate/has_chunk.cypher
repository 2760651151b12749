// (:Document)-[:HAS_CHUNK]->(:Chunk) becomes (:Chunk)-[:FROM_DOCUMENT]->(:Document), $batch at a
// time (run until migrated = 0).
MATCH (d:Document)-[h:HAS_CHUNK]->(c:Chunk)
WITH d, h, c LIMIT $batch
MERGE (c)-[:FROM_DOCUMENT]->(d)
DELETE h
RETURN count(*) AS migrated
