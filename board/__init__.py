"""Board profiles: one TOML file per board (pins, polarity, audio devices). Data only."""
