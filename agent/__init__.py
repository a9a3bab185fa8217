"""The on-board agent. Python >= 3.8, standard library plus whatever runtimes the board has."""

AGENT_VERSION = "0.1.0"
