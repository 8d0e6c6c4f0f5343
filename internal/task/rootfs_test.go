package task

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/mount"
)

// The cases that mount nothing: a single bind is used in place, no root at all is the caller's error. (Stacked
// mounts need root and are covered by the runtimes' tests.)
func TestMountRootfsWithoutMounting(t *testing.T) {
	tests := []struct {
		name    string
		rootfs  []mount.Mount
		want    string
		wantErr error
	}{
		{name: "single bind used in place", rootfs: []mount.Mount{mount.Bind("/srv/root", false)}, want: "/srv/root"},
		{name: "no root filesystem", wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MountRootfs(Spec{ID: "t1", Bundle: t.TempDir(), Rootfs: tt.rootfs})
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("MountRootfs = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
