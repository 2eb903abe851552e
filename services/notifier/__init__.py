"""The notifier service: turns opened billing periods into Invite to Bill emails."""
