package shim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestDecodeConfigRoundTrip(t *testing.T) {
	cfgs := []Config{
		{ID: "c1", Bundle: "/b", Runtime: "/usr/sbin/runc"},
		{
			ID: "weird \"id\" \\ <&> \t\n\x01 é 😀 \u2028", Bundle: "/run/x y", Runtime: "/bin/crun",
			RuntimeArgs: []string{"--systemd-cgroup", "", "a\"b"}, RuntimeRoot: "/run/berth/runtime/runc",
			LogPath: "/var/lib/berth/containers/c1/c1-json.log", Tty: true, Stdin: true, StdinOnce: true,
			ConsoleWidth: 65535, ConsoleHeight: 1, RuntimeFD: 4, RuntimeExe: "/run/berth/runtime-bin/fd4/runc",
			OOMFile: "/sys/fs/cgroup/memory/berth/c1/memory.oom_control",
		},
		{ID: "x", Bundle: "b", Runtime: "r", RuntimeArgs: []string{"only"}},
		{ID: "l", Bundle: "b", Runtime: "r", LogPath: "/l/container.log", LogFormat: "local", LogMaxSize: 20 << 30,
			LogMaxFiles: 5, LogCompress: true, LogAttrs: map[string]string{"team": "web", "é \"q\"": "", "tag": "{{.Name}}"}},
	}
	for _, want := range cfgs {
		data, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeConfig(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s:\n got %#v\nwant %#v", data, got, want)
		}
	}
}

// Hand-written inputs decode as encoding/json decodes them.
func TestDecodeConfigLikeEncodingJSON(t *testing.T) {
	inputs := []string{
		`{"id":"a\u00e9\ud83d\ude00\/","bundle":"b","runtime":"r"}`,
		`{"id":"lone \ud800 surrogate","bundle":"b","runtime":"r"}`,
		`{"id":"pair then \ud83d\u0041","bundle":"b","runtime":"r"}`,
		` { "id" : "a" , "bundle":"b","runtime":"r", "unknown": {"x": [1, 2.5e3, -3, true, null, {"y": "z"}]},
		   "tty": true, "stdin": null, "console_width": 80, "runtime_args": null } `,
		`{"id":"\b\f\n\r\t","bundle":"b","runtime":"r","runtime_args":["a", "b"]}`,
		`{"id":"a","bundle":"b","runtime":"r","log_attrs":{},"log_max_size":10000000,"log_max_files":3}`,
		`{"id":"a","bundle":"b","runtime":"r","log_attrs":null,"log_compress":false}`,
	}
	for _, in := range inputs {
		var want Config
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got, err := decodeConfig([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", in, got, want)
		}
	}
}

func TestDecodeConfigErrors(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{`, `{"id":}`, `{"id":"a"`, `{"id":"a",}`, `{"id":1}`, `{"tty":"yes"}`,
		`{"console_width":70000}`, `{"console_width":-1}`, `{"id":"\x"}`, `{"id":"\u12"}`, `{} x`,
		`{"runtime_args":["a",]}`, `{"u":[1,}`, `{"u":tru}`,
	} {
		if _, err := decodeConfig([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestLastRuntimeError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.log")
	old := `{"level":"error","msg":"old failure","time":"2024-01-01T00:00:00Z"}` + "\n"
	log := `{"level":"warning","msg":"something","time":"2024-01-01T00:00:00Z"}` + "\n" +
		"not json\n" +
		`{"level":"error","msg":"runc create failed: unable to start container process: exec: \"foo\": executable file not found in $PATH\n","time":"2024-01-01T00:00:00Z"}` + "\n" +
		`{"msg": "crun style", "level": "info", "time": "2024-01-01T00:00:00.000000Z"}` + "\n"
	if err := os.WriteFile(path, []byte(old+log), 0o644); err != nil {
		t.Fatal(err)
	}
	want := `runc create failed: unable to start container process: exec: "foo": executable file not found in $PATH`
	if got := lastRuntimeError(path, int64(len(old))); got != want {
		t.Errorf("got %q", got)
	}
	if got := lastRuntimeError(path, int64(len(old+log))); got != "" {
		t.Errorf("nothing new: got %q", got)
	}
}

func TestExitFile(t *testing.T) {
	dir := t.TempDir()
	if _, _, ok, err := ReadExit(dir); ok || err != nil {
		t.Fatalf("no exit file: ok=%v err=%v", ok, err)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	if err := writeExit(dir, 137, at, true); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ExitFile))
	if string(data) != `{"exit_code":137,"exited_at":"2024-05-06T07:08:09.00000001Z","oom_killed":true}` {
		t.Errorf("exit file %s", data)
	}
	code, got, ok, err := ReadExit(dir)
	if err != nil || !ok || code != 137 || !got.Equal(at) {
		t.Errorf("ReadExit = %d %v %v %v", code, got, ok, err)
	}
	if rec, ok, err := ReadExitRecord(dir); err != nil || !ok || !rec.OOMKilled {
		t.Errorf("ReadExitRecord = %+v %v %v", rec, ok, err)
	}
}

// The OOM counter of both hierarchies' files: memory.events (v2) and memory.oom_control (v1, kernel ≥ 4.13).
func TestOOMKills(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		want          int
	}{
		{"v2 memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n", 2},
		{"v1 memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", 1},
		{"none", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", 0},
	} {
		f := filepath.Join(dir, tt.name)
		os.WriteFile(f, []byte(tt.content), 0o644)
		if got := oomKills(f); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if oomKills(filepath.Join(dir, "missing")) != 0 || oomKills("") != 0 {
		t.Error("a missing file counts kills")
	}
}

func TestDockerWords(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{name: "runc's words stay", in: `runc create failed: unable to start container process: exec: "x": executable file not found in $PATH`,
			want: `runc create failed: unable to start container process: exec: "x": executable file not found in $PATH`},
		{name: "crun, a command looked up in PATH", in: "executable file `nosuch` not found in $PATH: No such file or directory",
			want: `exec: "nosuch": executable file not found in $PATH`},
		{name: "crun, a path", in: "executable file `/bin/nosuch` not found in $PATH: No such file or directory",
			want: `exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory`},
		{name: "crun exec's stderr, after the process's output", in: "some output\nexecutable file `x` not found in $PATH: No such file or directory\n",
			want: "some output\nexec: \"x\": executable file not found in $PATH\n"},
		{name: "crun, not executable", in: "open executable: Operation not permitted", want: "open executable: permission denied"},
		{name: "crun, permission", in: "open executable: Permission denied", want: "open executable: permission denied"},
		{name: "other errors", in: "mount `proc` to `proc`: Operation not permitted", want: "mount `proc` to `proc`: Operation not permitted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DockerWords(tt.in); got != tt.want {
				t.Errorf("DockerWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
