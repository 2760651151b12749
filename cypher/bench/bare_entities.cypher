// Benchmark baseline only (bench/load.py): the loader's entity rows of ONE type {{label}}, by the
// barest UNWIND/MERGE (same labels Entity:{{label}}, same properties). Not used by kg itself.
UNWIND $rows AS row
MERGE (n:Entity:{{label}} {id: row.id})
SET n += row
