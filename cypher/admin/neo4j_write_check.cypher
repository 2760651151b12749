// Neo4j preflight: can this user write? Run in a transaction that is rolled back.
CREATE (n:KgPreflight) RETURN count(n) AS created
