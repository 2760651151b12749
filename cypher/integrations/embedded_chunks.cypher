// How many chunks carry an embedding (what LangChain's FalkorDBVector searches).
MATCH (c:Chunk)
WHERE c.embedding IS NOT NULL
RETURN count(c) AS n
