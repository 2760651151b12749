// The $k entities whose names are nearest to the query vector $vector ((1 + cosine) / 2).
CALL db.index.vector.queryNodes('kg_entity_embedding', $k, $vector) YIELD node, score
RETURN node.id AS id, score
