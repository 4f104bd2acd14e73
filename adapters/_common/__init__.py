"""What the built-in contract adapters share: settings validation, the backend HTTP client with
retries and error mapping, OData literal handling and the capabilities description."""
