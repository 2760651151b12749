// Benchmark baseline only (bench/load.py): the barest UNWIND/MERGE of the loader's own rows
// {a, b, props} as SUMMARIZES edges, ends found by their indexed ids. Not used by kg itself.
UNWIND $rows AS row
MATCH (a:Summary {id: row.a})
MATCH (b:Document {id: row.b})
MERGE (a)-[r:SUMMARIZES]->(b)
SET r += row.props
