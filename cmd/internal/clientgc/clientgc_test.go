package clientgc

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"testing"
)

const childEnv = "BERTH_CLIENTGC_CHILD"

// TestMain, in a child run with childEnv set, prints the collector settings init left.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		fmt.Print(debug.SetGCPercent(-1), " ", debug.SetMemoryLimit(-1))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// settings runs this test binary with env and returns "GC-percent memory-limit" as its init left them.
func settings(t *testing.T, env ...string) string {
	t.Helper()
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		if os.Getenv(k) != "" {
			t.Skipf("%s is set for the test run", k)
		}
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append(env, childEnv+"=1")...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestCollectorOffUpToTheLimit(t *testing.T) {
	if got, want := settings(t), "-1 "+strconv.Itoa(cliMemoryLimit); got != want {
		t.Fatalf("GC percent and memory limit = %q, want %q", got, want)
	}
}

func TestEnvironmentWins(t *testing.T) {
	max := strconv.FormatInt(math.MaxInt64, 10)
	if got := settings(t, "GOGC=50"); got != "50 "+max {
		t.Fatalf("with GOGC=50: %q", got)
	}
	if got := settings(t, "GOMEMLIMIT=1GiB"); got != "100 "+strconv.Itoa(1<<30) {
		t.Fatalf("with GOMEMLIMIT=1GiB: %q", got)
	}
}
