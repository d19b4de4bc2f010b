"""Where results go: Elasticsearch (pipeline), SQLite (embedded), alert webhooks."""
