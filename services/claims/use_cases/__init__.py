"""What a person or an event asks of the claims service; each runs in one transaction."""
