"""The claims service's rules, free of I/O: progress claims and their money (rules 14 to 19), and accounts."""
