// Entities get neo4j-graphrag's __Entity__ label, $batch at a time (run until migrated = 0).
MATCH (e:Entity) WHERE NOT e:__Entity__
WITH e LIMIT $batch
SET e:__Entity__
RETURN count(*) AS migrated
