package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/profiles/apparmor"

	"github.com/berth/berth/internal/oci"
)

// loadSeccompProfile reads daemon.json's seccomp-profile (or --seccomp-profile): a file's path, "unconfined" or
// "builtin"; the result is what oci.Input.SeccompProfile takes.
func loadSeccompProfile(v string) (string, error) {
	switch v {
	case "", oci.SeccompBuiltin, oci.SeccompUnconfined:
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("opening seccomp profile (%s) failed: %w", v, errdefs.ErrInvalidArgument)
	}
	return string(b), nil
}

// appArmorProfileName is the profile Berth installs for its containers, docker's default profile under
// Berth's name, so that a dockerd beside it keeps its own.
const appArmorProfileName = "berth-default"

// setupAppArmor loads Berth's default AppArmor profile when the host has AppArmor, as dockerd loads
// docker-default, and returns its name; "" on a host without AppArmor (containers then run without a profile).
func setupAppArmor() string {
	if !hostSupportsAppArmor() {
		return ""
	}
	if loaded, err := apparmor.IsLoaded(appArmorProfileName); err == nil && loaded {
		return appArmorProfileName
	}
	if err := apparmor.InstallDefault(appArmorProfileName); err != nil {
		slog.Warn("AppArmor is enabled but Berth's profile could not be loaded; containers run without one", "profile", appArmorProfileName, "error", err)
		return ""
	}
	return appArmorProfileName
}

// hostSupportsAppArmor is containerd's check: the LSM is enabled and apparmor_parser can load profiles.
func hostSupportsAppArmor() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if err != nil || !strings.HasPrefix(string(b), "Y") {
		return false
	}
	_, err = exec.LookPath("apparmor_parser")
	return err == nil
}
