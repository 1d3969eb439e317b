"""HTTP routes, one router per area; thin: parse, call the service, return its answer."""
