"""The sync domain and the clients of Microsoft Graph and the Yeastar OpenAPI."""
