// Benchmark baseline only (bench/load.py): the barest UNWIND/MERGE of the loader's own rows, one
// label {{label}} at a time, every row property copied by SET +=. Not used by kg itself.
UNWIND $rows AS row
MERGE (n:{{label}} {id: row.id})
SET n += row
