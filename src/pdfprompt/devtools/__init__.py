"""Tools for development and testing: real HTTP peers for what cannot run here."""
