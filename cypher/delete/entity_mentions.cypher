// Drop every MENTIONS edge of the entities $ids (the loader then writes their current ones).
UNWIND $ids AS id
MATCH (:Chunk)-[m:MENTIONS]->(:Entity {id: id})
DELETE m
