// Neo4j preflight: the server version (kg needs >= 5.18 for vector indexes).
CALL dbms.components() YIELD versions RETURN versions[0] AS version
