// The IGVM module. See docs/architecture.md.
