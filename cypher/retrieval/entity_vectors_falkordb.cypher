// The $k entities whose names are nearest to the query vector $vector (cosine distance).
CALL db.idx.vector.queryNodes('Entity', 'embedding', $k, vecf32($vector)) YIELD node, score
RETURN node.id AS id, score
