// Paths between two entities ($source, $target by name): the shortest few, up to 3 hops, through
// relations or shared chunks.
// params: {"source": "PCA", "target": "Gradient descent", "top": 5}
MATCH (a:Entity), (b:Entity)
WHERE toLower(a.name) = toLower($source) AND toLower(b.name) = toLower($target)
MATCH p = (a)-[*1..3]-(b)
RETURN p, length(p) AS hops
ORDER BY hops
LIMIT $top
