// Clear kg's graph in batches of $batch nodes (run until deleted = 0); touches only kg labels.
MATCH (n)
WHERE n:Document OR n:Chunk OR n:Entity OR n:Summary
WITH n LIMIT $batch
DETACH DELETE n
RETURN count(*) AS deleted
