// Edges and nodes still in kg's schema before neo4j-graphrag's lexical graph (HAS_CHUNK, NEXT,
// entities without __Entity__); kg load migrates them (migrate/*).
OPTIONAL MATCH (:Document)-[h:HAS_CHUNK]->(:Chunk) WITH count(h) AS has_chunk
OPTIONAL MATCH (:Chunk)-[n:`NEXT`]->(:Chunk) WITH has_chunk, count(n) AS next_edges
OPTIONAL MATCH (e:Entity) WHERE NOT e:__Entity__
RETURN has_chunk, next_edges, count(e) AS unlabelled
