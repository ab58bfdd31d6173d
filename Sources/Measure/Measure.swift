// The Measure module. See docs/architecture.md.
