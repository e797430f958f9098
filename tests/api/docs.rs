//! OpenAPI document: every route served is documented, every documented route is served.
