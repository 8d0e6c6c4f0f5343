package link

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// procSys is where the sysctls are; /proc/sys/net shows the network namespace of the thread that opens it.
const procSys = "/proc/sys"

// EnableForwarding sets net.ipv4.ip_forward=1 in the calling thread's network namespace (the host's, outside
// InNetNS), which routing between a bridge and the outside needs. It reports whether forwarding was already on, so
// a caller can log the change or undo it.
func EnableForwarding() (wasEnabled bool, err error) {
	path := filepath.Join(procSys, "net/ipv4/ip_forward")
	prev, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read net.ipv4.ip_forward: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(prev), []byte("1")) {
		return true, nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return false, fmt.Errorf("enable net.ipv4.ip_forward: %w", err)
	}
	return false, nil
}

// SetRouteLocalnet sets net.ipv4.conf.<bridge>.route_localnet=1, which lets traffic addressed to 127.0.0.1 be
// DNATed to containers on that bridge (ports published on the loopback address).
func SetRouteLocalnet(bridge string) error {
	if err := checkIfName("bridge", bridge); err != nil {
		return err
	}
	path := filepath.Join(procSys, "net/ipv4/conf", bridge, "route_localnet")
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("set net.ipv4.conf.%s.route_localnet: %w", bridge, err)
	}
	return nil
}
