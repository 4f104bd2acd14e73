"""The GraphQL contract adapter (entry point `graphql`)."""
