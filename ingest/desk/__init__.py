"""The desk: the poll cycle, reply decisions, import, IDLE watching, health."""
