"""The gateway: its servers behind one catalog (`core`), changed live (`reconfigure`), shown (`status`)."""
