// (:Chunk)-[:NEXT]->(:Chunk) becomes NEXT_CHUNK, $batch at a time (run until migrated = 0).
MATCH (a:Chunk)-[n:`NEXT`]->(b:Chunk)
WITH a, n, b LIMIT $batch
MERGE (a)-[:NEXT_CHUNK]->(b)
DELETE n
RETURN count(*) AS migrated
