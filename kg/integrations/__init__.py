"""kg seen from the user's own tools: a LangChain retriever (``kg.integrations.langchain``) and
the FalkorDB connection details LangChain's graph classes need (``kg.integrations.falkordb``).

The MCP server is an entry point, so it lives in ``app/mcp_server.py``.
"""
