// Entities whose name contains any of the words in $q ('w1 OR w2 …', Lucene syntax).
CALL db.index.fulltext.queryNodes('kg_entity_name', $q) YIELD node
RETURN node.id AS id
LIMIT $top
