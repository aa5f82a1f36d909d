//! HTTP API and web page of a Passcom peer (stub).
