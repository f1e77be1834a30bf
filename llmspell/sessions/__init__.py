"""Sessions and content-addressed artifacts (memory or a durable SQLite file + blob folder).

``service.SessionService`` is what the ``Session``/``Artifact`` globals and other services
(RAG's session collections) use; ``store.SessionStore`` is the storage underneath.
"""
