// The $k chunks nearest to the query vector $vector (Neo4j: score is (1 + cosine) / 2).
CALL db.index.vector.queryNodes('kg_chunk_embedding', $k, $vector) YIELD node, score
RETURN node.id AS id, score
