"""The pydantic models of the HTTP API's requests and answers (DESIGN.md decision 11)."""
