"""The platform app: this organisation's environments built from the hashistack library."""
