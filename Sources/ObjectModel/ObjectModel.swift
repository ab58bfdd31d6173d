// The ObjectModel module. See docs/architecture.md.
