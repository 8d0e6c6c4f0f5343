package main

import (
	"os/user"
	"strconv"
	"testing"
)

func TestSocketGroup(t *testing.T) {
	dockerGID := 0
	if g, err := user.LookupGroup("docker"); err == nil {
		dockerGID, _ = strconv.Atoi(g.Gid)
	}
	tests := []struct {
		name    string
		group   string
		want    int
		wantErr string
	}{
		{name: "default: docker's group, or root's when there is none", group: "", want: dockerGID},
		{name: "by name", group: "root", want: 0},
		{name: "by ID", group: "0", want: 0},
		{name: "a group that does not exist", group: "no-such-group-berth", wantErr: "group no-such-group-berth not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := socketGroup(tt.group)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("socketGroup(%q) = %d, %v; want %d", tt.group, got, err, tt.want)
			}
		})
	}
}
