"""The emulator's HTTP side: server, routes (auth, REST, Bulk 2.0 and 1.0), wire format and faults."""
