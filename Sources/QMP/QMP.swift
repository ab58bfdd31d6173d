// The QMP module. See docs/architecture.md.
