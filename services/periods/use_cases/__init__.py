"""What an administrator or an event asks of the periods service; each runs in one transaction."""
