// Benchmark baseline only (bench/load.py): the barest UNWIND/MERGE of the loader's own rows
// {a, b, props} as {{rel_type}} edges, ends found by their indexed ids. Not used by kg itself.
UNWIND $rows AS row
MATCH (a:Entity {id: row.a})
MATCH (b:Entity {id: row.b})
MERGE (a)-[r:{{rel_type}} {id: row.props.id}]->(b)
SET r += row.props
