package shim_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Memory targets per idle shim, with 10 running (PSS shares the binary's pages among them).
const (
	maxRSSKiB = 4403 // 4.3 MiB
	maxPSSKiB = 1024
)

// TestShimMemory runs 10 shims of `sleep 1000` containers and reports their RSS and PSS. The targets are only
// enforced with BERTH_SHIM_MEMCHECK=1, as they depend on the kernel and libc of the machine.
func TestShimMemory(t *testing.T) {
	const n = 10
	ctx := testContext(t, 60*time.Second)
	pids := make([]int, 0, n)
	threadsBefore := threads(t, os.Getpid())
	for i := 0; i < n; i++ {
		c := newContainer(t, []string{"sleep", "1000"})
		_, cl := c.spawn(ctx)
		if err := cl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, c.shimPid())
	}
	time.Sleep(time.Second) // let the shims settle
	// Spawn reaps through a pidfd in the netpoller: no thread of the daemon is parked per shim.
	if grown := threads(t, os.Getpid()) - threadsBefore; grown >= n {
		t.Errorf("the spawning process grew %d threads for %d shims", grown, n)
	}
	var sumRSS, sumPSS, maxRSS, maxPSS int
	for _, pid := range pids {
		rss, pss := smapsRollup(t, pid)
		sumRSS += rss
		sumPSS += pss
		maxRSS = max(maxRSS, rss)
		maxPSS = max(maxPSS, pss)
	}
	t.Logf("%d shims: RSS avg %d KiB max %d KiB; PSS avg %d KiB max %d KiB", n, sumRSS/n, maxRSS, sumPSS/n, maxPSS)
	if os.Getenv("BERTH_SHIM_MEMCHECK") == "1" && (maxRSS > maxRSSKiB || maxPSS >= maxPSSKiB) {
		t.Errorf("shim memory over target: RSS %d KiB (max %d), PSS %d KiB (max %d)", maxRSS, maxRSSKiB, maxPSS, maxPSSKiB)
	}
}

func smapsRollup(t *testing.T, pid int) (rss, pss int) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "Rss:":
			rss = v
		case "Pss:":
			pss = v
		}
	}
	return rss, pss
}

func threads(t *testing.T, pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
