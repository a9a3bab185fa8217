"""A board lab on one machine: real sshd servers, optionally as simulated boards
(network namespace, bandwidth cap, cgroup CPU and memory limits). See README."""
