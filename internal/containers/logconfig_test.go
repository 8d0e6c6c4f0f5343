package containers

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/berth/berth/internal/logger/logfile"
	"github.com/berth/berth/internal/task"
)

// TestLogConfigCreate creates containers with log drivers and options as `docker run --log-driver --log-opt`
// sends them, over a daemon default (daemon.json's log-driver and log-opts): docker's refusals in docker's
// words, and what the task is given at start.
func TestLogConfigCreate(t *testing.T) {
	tests := []struct {
		name       string
		daemon     string            // daemon's driver ("" = json-file)
		daemonOpts map[string]string // daemon's log-opts
		driver     string
		opts       map[string]string
		wantErr    string // the refusal; empty: created, with wantType/wantConfig and wantIO at start
		wantType   string
		wantConfig string
		wantIO     string
	}{
		{name: "default", wantType: "json-file", wantConfig: "map[]", wantIO: "json-file <id>-json.log size=0 files=1 compress=false attrs=map[]"},
		{name: "json-file rotation", driver: "json-file", opts: map[string]string{"max-size": "10k", "max-file": "3", "compress": "true"},
			wantType: "json-file", wantConfig: "map[compress:true max-file:3 max-size:10k]",
			wantIO: "json-file <id>-json.log size=10000 files=3 compress=true attrs=map[]"},
		{name: "units", driver: "json-file", opts: map[string]string{"max-size": "1.5m"}, wantType: "json-file",
			wantConfig: "map[max-size:1.5m]", wantIO: "json-file <id>-json.log size=1500000 files=1 compress=false attrs=map[]"},
		{name: "daemon's options for its driver", daemonOpts: map[string]string{"max-size": "1g", "max-file": "2"},
			opts: map[string]string{"max-file": "4"}, wantType: "json-file", wantConfig: "map[max-file:4 max-size:1g]",
			wantIO: "json-file <id>-json.log size=1000000000 files=4 compress=false attrs=map[]"},
		{name: "daemon's options not for another driver", daemonOpts: map[string]string{"max-size": "1g"}, driver: "local",
			wantType: "local", wantConfig: "map[]", wantIO: "local local-logs/container.log size=20971520 files=5 compress=true attrs=map[]"},
		{name: "daemon's driver", daemon: "local", daemonOpts: map[string]string{"max-file": "2", "compress": "false"},
			wantType: "local", wantConfig: "map[compress:false max-file:2]", wantIO: "local local-logs/container.log size=20971520 files=2 compress=false attrs=map[]"},
		{name: "none", driver: "none", opts: map[string]string{"anything": "goes"}, wantType: "none", wantConfig: "map[anything:goes]", wantIO: "no log"},
		{name: "attributes", driver: "json-file", opts: map[string]string{"labels": "team,missing", "env": "FOO", "env-regex": "^B", "tag": "{{.Name}}/{{.ImageName}}"},
			wantType: "json-file", wantConfig: "map[env:FOO env-regex:^B labels:team,missing tag:{{.Name}}/{{.ImageName}}]",
			wantIO: "json-file <id>-json.log size=0 files=1 compress=false attrs=map[BAR:2 FOO:1 tag:web/busybox team:shop]"},
		{name: "modes", driver: "json-file", opts: map[string]string{"mode": "non-blocking", "max-buffer-size": "4m"}, wantType: "json-file",
			wantConfig: "map[max-buffer-size:4m mode:non-blocking]", wantIO: "json-file <id>-json.log size=0 files=1 compress=false attrs=map[]"},

		{name: "unknown driver", driver: "syslogd", wantErr: "logger: no log driver named 'syslogd' is registered"},
		{name: "unknown option", driver: "json-file", opts: map[string]string{"max-sise": "1m"}, wantErr: "unknown log opt 'max-sise' for json-file log driver"},
		{name: "unknown option, local", driver: "local", opts: map[string]string{"foo": "1"}, wantErr: "unknown log opt 'foo' for log driver local"},
		{name: "bad size", driver: "json-file", opts: map[string]string{"max-size": "abc"}, wantErr: "failed to initialize logging driver: invalid size: 'abc'"},
		{name: "size 0", driver: "json-file", opts: map[string]string{"max-size": "0"}, wantErr: "failed to initialize logging driver: max-size must be a positive number"},
		{name: "files 0", driver: "json-file", opts: map[string]string{"max-file": "0"}, wantErr: "failed to initialize logging driver: max-file cannot be less than 1"},
		{name: "compress one file", driver: "json-file", opts: map[string]string{"max-size": "1m", "compress": "true"},
			wantErr: "failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set"},
		{name: "local compress one file", driver: "local", opts: map[string]string{"max-file": "1"},
			wantErr: "failed to initialize logging driver: compression cannot be enabled when max file count is 1"},
		{name: "bad mode", driver: "json-file", opts: map[string]string{"mode": "fast"}, wantErr: "logger: logging mode not supported: fast"},
		{name: "buffer without non-blocking", driver: "json-file", opts: map[string]string{"max-buffer-size": "4m"},
			wantErr: "logger: max-buffer-size option is only supported with 'mode=non-blocking'"},
		{name: "bad regex", driver: "json-file", opts: map[string]string{"labels-regex": "("}, wantErr: "failed to initialize logging driver: error parsing regexp"},
		{name: "bad tag", driver: "json-file", opts: map[string]string{"tag": "{{.Name"}, wantErr: "failed to initialize logging driver: template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestService(t)
			ts.cfg.LogDriver, ts.cfg.LogOpts = tc.daemon, tc.daemonOpts
			ctx := context.Background()
			_, err := ts.Create(ctx, CreateOptions{Name: "web", Config: &container.Config{Image: "busybox", Labels: map[string]string{"team": "shop"}, Env: []string{"FOO=1", "BAR=2"}},
				HostConfig: &container.HostConfig{NetworkMode: "none", LogConfig: container.LogConfig{Type: tc.driver, Config: tc.opts}}})
			if tc.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want a 400 starting %q", err, tc.wantErr)
				}
				if names := ts.names(ctx); len(names) != 0 {
					t.Fatalf("a refused create left %v", names)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ts.Inspect(ctx, "web", false)
			if err != nil {
				t.Fatal(err)
			}
			lc := resp.HostConfig.LogConfig
			if lc.Type != tc.wantType || fmt.Sprint(lc.Config) != tc.wantConfig {
				t.Errorf("LogConfig %s %v, want %s %s", lc.Type, lc.Config, tc.wantType, tc.wantConfig)
			}
			if wantPath := filepath.Join(ts.dir, "containers", resp.ID, resp.ID+"-json.log"); (lc.Type == "json-file") != (resp.LogPath == wantPath) {
				t.Errorf("LogPath %q (docker shows json-file's only)", resp.LogPath)
			}
			if err := ts.Start(ctx, "web"); err != nil {
				t.Fatal(err)
			}
			if got := describeIO(ts.tasks.tasks[resp.ID].io, filepath.Join(ts.dir, "containers", resp.ID), resp.ID); got != tc.wantIO {
				t.Errorf("task log:\n got %s\nwant %s", got, tc.wantIO)
			}
		})
	}
}

func describeIO(io task.IO, dir, id string) string {
	if io.LogPath == "" {
		return "no log"
	}
	rel, _ := filepath.Rel(dir, io.LogPath)
	rel = strings.ReplaceAll(rel, id, "<id>")
	l := io.Log
	return fmt.Sprintf("%s %s size=%d files=%d compress=%v attrs=%v", l.Format, rel, l.MaxSize, l.MaxFiles, l.Compress, l.Attrs)
}

func TestAppendLogAttrs(t *testing.T) {
	got := string(appendLogAttrs(nil, nil))
	if got != "" {
		t.Errorf("no attributes: %q", got)
	}
	// docker logs --details: sorted k=v pairs, query-escaped, comma-separated.
	got = string(appendLogAttrs([]byte("x "), []logfile.Attr{{Key: "FOO", Value: "bar"}, {Key: "SP", Value: "a b"}, {Key: "team", Value: "x,y"}}))
	if got != "x FOO=bar,SP=a+b,team=x%2Cy" {
		t.Errorf("attrs: %q", got)
	}
}
