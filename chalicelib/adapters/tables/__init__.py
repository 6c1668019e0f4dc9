"""PynamoDB models, one module per DynamoDB table, bound to names and endpoints lazily."""
