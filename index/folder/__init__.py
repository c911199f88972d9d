"""A version's passages as plain files, loaded and searched in process."""
