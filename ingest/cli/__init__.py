"""The gongdan command line."""
