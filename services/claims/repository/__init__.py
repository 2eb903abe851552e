"""All SQL of the claims service: claims and what they are read with, invites and answers, and accounts."""
