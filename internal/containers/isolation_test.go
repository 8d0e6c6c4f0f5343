package containers

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// --isolation vm selects the runtime the daemon maps it to; anything but default and vm is docker's error.
func TestIsolation(t *testing.T) {
	ts := newTestService(t)
	ts.cfg.Runtimes["berth-vm"] = ts.tasks
	ts.cfg.IsolationRuntimes = map[string]string{"vm": "berth-vm"}
	ctx := context.Background()
	tests := []struct {
		name        string
		isolation   string
		runtime     string
		wantRuntime string
		wantErr     string
	}{
		{name: "default", isolation: "default", wantRuntime: "runc"},
		{name: "vm", isolation: "vm", wantRuntime: "berth-vm"},
		{name: "vm with its own runtime named", isolation: "vm", runtime: "berth-vm", wantRuntime: "berth-vm"},
		{name: "vm with another runtime", isolation: "vm", runtime: "runc", wantErr: "conflicting options: --isolation vm runs with the berth-vm runtime, not runc"},
		{name: "hyperv", isolation: "hyperv", wantErr: `invalid isolation: "hyperv" - linux only supports 'default' and 'vm'`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "iso" + string(rune('a'+i))
			_, err := ts.Create(ctx, CreateOptions{Name: name, Config: &container.Config{Image: "busybox", Cmd: []string{"true"}},
				HostConfig: &container.HostConfig{NetworkMode: "none", Isolation: container.Isolation(tt.isolation), Runtime: tt.runtime}})
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ts.Inspect(ctx, name, false)
			if err != nil || resp.HostConfig.Runtime != tt.wantRuntime {
				t.Errorf("runtime %q, %v; want %q", resp.HostConfig.Runtime, err, tt.wantRuntime)
			}
		})
	}
}
