package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth/berth/internal/task"
)

func TestNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0
  eth0:    5234      42    1    2    0     0          0         0     1870      17    3    4    0     0       0          0
`
	p := filepath.Join(t.TempDir(), "dev")
	if err := os.WriteFile(p, []byte(dev), 0o644); err != nil {
		t.Fatal(err)
	}
	got := netDev(p)
	want := task.NetworkMetrics{RxBytes: 5234, RxPackets: 42, RxErrors: 1, RxDropped: 2, TxBytes: 1870, TxPackets: 17, TxErrors: 3, TxDropped: 4}
	if len(got) != 1 || got["eth0"] != want {
		t.Errorf("netDev = %+v", got)
	}
	if netDev(filepath.Join(t.TempDir(), "missing")) != nil {
		t.Error("a missing file gave counters")
	}
}
