"""The DriftCheck pipeline: one scheduled data-quality check of the deployed endpoint."""
