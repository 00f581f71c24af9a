"""Online learning: the router's quality predictions corrected by outcomes and feedback."""
