"""The periods service: administrators open, change and close billing periods; it announces them on Kafka."""
