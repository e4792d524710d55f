"""CPython asyncio shell around the core: sockets, timers, the audio pump, config, CLI, HTTP."""
