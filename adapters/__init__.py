"""Channel adapters: one package per push channel, all with the same file names."""
