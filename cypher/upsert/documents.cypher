// One row per Document: {id, path, title, chars, sha256, format}. The text stays in the chunks.
UNWIND $rows AS row
MERGE (d:Document {id: row.id})
SET d.path = row.path, d.title = row.title, d.chars = row.chars, d.sha256 = row.sha256,
    d.format = row.format
