// Nodes per kg label and relationships per kg type; `relations` counts every entity-entity edge.
OPTIONAL MATCH (n:Document) WITH count(n) AS Document
OPTIONAL MATCH (n:Chunk) WITH Document, count(n) AS Chunk
OPTIONAL MATCH (n:Entity) WITH Document, Chunk, count(n) AS Entity
OPTIONAL MATCH (n:Summary) WITH Document, Chunk, Entity, count(n) AS Summary
OPTIONAL MATCH (:Chunk)-[r:FROM_DOCUMENT]->(:Document)
WITH Document, Chunk, Entity, Summary, count(r) AS FROM_DOCUMENT
OPTIONAL MATCH (:Chunk)-[r:NEXT_CHUNK]->(:Chunk)
WITH Document, Chunk, Entity, Summary, FROM_DOCUMENT, count(r) AS NEXT_CHUNK
OPTIONAL MATCH (:Chunk)-[r:MENTIONS]->(:Entity)
WITH Document, Chunk, Entity, Summary, FROM_DOCUMENT, NEXT_CHUNK, count(r) AS MENTIONS
OPTIONAL MATCH (:Summary)-[r:SUMMARIZES]->(:Document)
WITH Document, Chunk, Entity, Summary, FROM_DOCUMENT, NEXT_CHUNK, MENTIONS,
     count(r) AS SUMMARIZES
OPTIONAL MATCH (:Entity)-[r]->(:Entity)
RETURN Document, Chunk, Entity, Summary, FROM_DOCUMENT, NEXT_CHUNK, MENTIONS, SUMMARIZES,
       count(r) AS relations
