// The $k chunks nearest to the query vector $vector (FalkorDB: score is the cosine distance).
CALL db.idx.vector.queryNodes('Chunk', 'embedding', $k, vecf32($vector)) YIELD node, score
RETURN node.id AS id, score
