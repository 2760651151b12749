// The people the notes mention (the README's LangChain example and its test):
// chunks name entities through MENTIONS, whatever links chunks to their documents.
MATCH (:Chunk)-[:MENTIONS]->(e:Entity {type: 'Person'})
RETURN DISTINCT e.name AS name
ORDER BY name
