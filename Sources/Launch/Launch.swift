// The Launch module. See docs/architecture.md.
