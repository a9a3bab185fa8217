"""Code both the host and the agent use. Standard library only: it runs on the board."""
