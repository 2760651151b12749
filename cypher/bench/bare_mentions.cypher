// Benchmark baseline only (bench/load.py): the barest UNWIND/MERGE of the loader's own rows
// {a, b, props} as MENTIONS edges, ends found by their indexed ids. Not used by kg itself.
UNWIND $rows AS row
MATCH (a:Chunk {id: row.a})
MATCH (b:Entity {id: row.b})
MERGE (a)-[r:MENTIONS {start: row.props.start, end: row.props.end}]->(b)
SET r += row.props
