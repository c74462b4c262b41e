"""kmstui grants plugin: create, list, retire and revoke KMS grants on any backend that has them.

Grant semantics live in kmstui.authz (the engine the local backend and `whatif` share); this plugin only
turns command lines into grant requests and shows the answers in the shape ListGrants returns.
"""
