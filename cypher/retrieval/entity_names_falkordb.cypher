// Entities whose name contains any of the words in $q ('w1|w2|…', RediSearch syntax).
CALL db.idx.fulltext.queryNodes('Entity', $q) YIELD node
RETURN node.id AS id
LIMIT $top
