"""The periods service's rules, free of I/O: billing periods (rules 1 to 4) and the period board."""
