// Package oci turns a Docker container configuration (the API's container.Config and container.HostConfig, plus
// what the daemon has already resolved: rootfs, mounts, network namespace, cgroup path) into an OCI runtime spec
// with Docker's defaults: namespaces, capabilities, default mounts, masked paths, device rules and resources. It
// also builds the process of an exec, parses signal names and reads the daemon's own capability set.
//
// Generate does no I/O beyond reading: the container's /etc/passwd and /etc/group (confined to the rootfs), the
// host's /dev for privileged containers and --device, and /proc/sys to skip default sysctls the kernel lacks.
package oci
