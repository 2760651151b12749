// FalkorDB's counts, one cheap statement each (label and type counts are O(1) there, while the
// portable stats/counts scans every edge). `edges` counts all relationships of kg's graph:
// relations = edges - FROM_DOCUMENT - NEXT_CHUNK - MENTIONS - SUMMARIZES (nothing else is
// in the graph).
MATCH (n:Document) RETURN count(n) AS Document;
MATCH (n:Chunk) RETURN count(n) AS Chunk;
MATCH (n:Entity) RETURN count(n) AS Entity;
MATCH (n:Summary) RETURN count(n) AS Summary;
MATCH ()-[r:FROM_DOCUMENT]->() RETURN count(r) AS FROM_DOCUMENT;
MATCH ()-[r:NEXT_CHUNK]->() RETURN count(r) AS NEXT_CHUNK;
MATCH ()-[r:MENTIONS]->() RETURN count(r) AS MENTIONS;
MATCH ()-[r:SUMMARIZES]->() RETURN count(r) AS SUMMARIZES;
MATCH ()-[r]->() RETURN count(r) AS edges;
