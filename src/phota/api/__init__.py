"""HTTP layer: app factory, routes, schemas, auth, error mapping, request ids."""
