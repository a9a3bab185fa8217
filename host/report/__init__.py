"""`edgeshrink report`: a stored run as one self-contained HTML page, or its plots as PNGs."""
