// Benchmark baseline only (bench/load.py): the barest UNWIND/MERGE of the loader's own rows
// {a, b, props} as NEXT edges, ends found by their indexed ids. Not used by kg itself.
UNWIND $rows AS row
MATCH (a:Chunk {id: row.a})
MATCH (b:Chunk {id: row.b})
MERGE (a)-[r:`NEXT`]->(b)
SET r += row.props
