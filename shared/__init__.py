"""What every Invite to Bill service needs and nothing service-specific."""
