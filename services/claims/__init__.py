"""The claims service: login, progress claims, and claims made on a contact's behalf."""
