"""The claims service's pages: accounts (log in and out, set a password by emailed link) and progress claims
("My invites and claims", the claim itself). Every form carries a CSRF token; the session is the signed cookie
every service reads."""
