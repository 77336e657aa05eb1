"""The desk's rules as pure functions over plain data: who is on a thread, whose mail counts as an
engineer's, which bounce is about which reply, what to answer. No I/O; nothing from the store."""
