"""Back-pain companion bot: the core (settings, clock, pure rules, wiring, CLI)."""
