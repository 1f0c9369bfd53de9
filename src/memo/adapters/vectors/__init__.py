"""Vector indexes: in the SQLite file, pgvector on PostgreSQL, Pinecone, and in memory."""
