"""LLM access: ``runtime`` runs kg's offline llama.cpp model, ``client`` talks to any
OpenAI-compatible server (LangChain ``ChatOpenAI``) with JSON-schema constrained calls."""
