"""Data sources, the synthetic world, transforms, targets and collation."""
