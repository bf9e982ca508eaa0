"""Development tools: the fuzz run, the Postman collection and the data generator (not part of the server)."""
