"""Version homes on disk: atomic writes, versions, manifests, compatibility, collections."""
