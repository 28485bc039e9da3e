"""Back end: ``codegen`` unparses the generated tree (one ``to_source``) with
comments tying blocks to the user's lines, and loads it."""
