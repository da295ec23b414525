"""Developer tooling for Tailor (local services for tests, benchmarks and development)."""
