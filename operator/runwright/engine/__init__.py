"""Pure run semantics: no I/O, no clock, no kopf. Everything here is testable with plain pytest."""
