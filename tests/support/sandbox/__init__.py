"""The boot sandbox: cluster nodes' cloud-init executed for real in a Debian root filesystem."""
