// Package testutil holds the gates and helpers shared by Berth's tests.
package testutil

import (
	"os"
	"testing"
)

// RequiresRoot skips t unless the test runs as root. Root-only tests (mounts, namespaces, runc) call it first;
// the README's test command runs as root, so in CI they always run.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
}
