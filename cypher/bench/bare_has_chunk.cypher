// Benchmark baseline only (bench/load.py): the barest UNWIND/MERGE of the loader's own rows
// {a, b, props} as HAS_CHUNK edges, ends found by their indexed ids. Not used by kg itself.
UNWIND $rows AS row
MATCH (a:Document {id: row.a})
MATCH (b:Chunk {id: row.b})
MERGE (a)-[r:HAS_CHUNK]->(b)
SET r += row.props
