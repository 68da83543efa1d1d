"""labelproof: verifiable pay for data annotators."""
