// neo4j-graphrag VectorCypherRetriever's retrieval_query for a kg graph (docs/neo4j.md): the
// retriever binds `node` (a :Chunk found by the kg_chunk_embedding index) and `score`; this
// adds the chunk's document and the facts kg extracted from that very chunk (relations whose
// evidence lies in it, from an entity it mentions), as [head, type, tail] triples.
MATCH (node)-[:FROM_DOCUMENT]->(d:Document)
OPTIONAL MATCH (node)-[:MENTIONS]->(e:__Entity__)-[r]->(o:__Entity__)
WHERE node.id IN r.chunk_ids
WITH node, score, d,
     collect(DISTINCT CASE WHEN r IS NULL THEN null ELSE [e.name, type(r), o.name] END) AS facts
RETURN node.text AS text, d.path AS document, node.index AS chunk, score, facts[0..20] AS facts
