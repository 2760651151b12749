// One row per Entity of ONE type {id, name, type, aliases, description, source}; {{label}} is the
// ontology type (validated by kg.cypher, never user input). The id encodes the type, so a node
// never changes type label. __Entity__ is neo4j-graphrag's label for entity nodes.
UNWIND $rows AS row
MERGE (e:Entity:__Entity__:{{label}} {id: row.id})
SET e.name = row.name, e.type = row.type, e.aliases = row.aliases,
    e.description = row.description, e.source = row.source
