"""Pure reading: MIME, charsets, HTML, quoting, fields, completeness, stop codes, automatic mail."""
