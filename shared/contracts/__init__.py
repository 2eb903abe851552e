"""The event contracts, one module per publisher, so a reader sees each service's events at a glance.

`topics` names the topics; `base` holds what every contract is and the parts several share; `erp` is the ERP's
contract (fixed by the ERP); `periods`, `invites`, `responses`, `claims` and `accounts` are what our services
publish. Readers are tolerant: unknown fields are ignored, so a producer may add fields without breaking
anyone. A change that breaks a reader gets a new type (`...v2`) beside the old one.
"""
