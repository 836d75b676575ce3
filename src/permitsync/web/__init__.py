"""The dashboard for Offstreet staff and operator admins: server-rendered pages over the
services, served by the same app as the REST API."""
