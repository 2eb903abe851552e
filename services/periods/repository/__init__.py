"""All SQL of the periods service: billing periods, and the board's read model."""
