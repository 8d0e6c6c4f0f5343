package volume

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
)

func newStore(t *testing.T, opts ...Option) (*Store, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "volumes")
	s, err := New(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func names(vs []Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		volName string
		labels  map[string]string
		opts    map[string]string
		wantErr error
		wantMsg string
		check   func(t *testing.T, root string, v Volume)
	}{
		{
			name: "named", volName: "data", labels: map[string]string{"a": "1"},
			check: func(t *testing.T, root string, v Volume) {
				if v.Name != "data" || v.Driver != "local" || v.Labels["a"] != "1" || v.Options != nil {
					t.Errorf("volume = %+v", v)
				}
				if v.Mountpoint != filepath.Join(root, "data", "_data") {
					t.Errorf("mountpoint = %s", v.Mountpoint)
				}
				if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
					t.Errorf("no _data dir: %v", err)
				}
				// Docker shows the creation time to the second, in UTC.
				if v.CreatedAt.IsZero() || v.CreatedAt.Location() != time.UTC || v.CreatedAt.Nanosecond() != 0 {
					t.Errorf("createdAt %v", v.CreatedAt)
				}
				data, err := os.ReadFile(filepath.Join(root, "data", "meta.json"))
				if err != nil {
					t.Fatal(err)
				}
				var m meta
				if err := json.Unmarshal(data, &m); err != nil || m.Driver != "local" || m.Labels["a"] != "1" || m.CreatedAt.IsZero() {
					t.Errorf("meta = %s (%v)", data, err)
				}
			},
		},
		{
			name: "anonymous", volName: "",
			check: func(t *testing.T, root string, v Volume) {
				if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v.Name) {
					t.Errorf("name = %q", v.Name)
				}
				if _, ok := v.Labels[AnonymousLabel]; !ok || !v.Anonymous() {
					t.Errorf("labels = %v", v.Labels)
				}
			},
		},
		{
			name: "tmpfs options", volName: "tmp", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
			check: func(t *testing.T, root string, v Volume) {
				if v.Options["type"] != "tmpfs" || v.Options["o"] != "size=1m" {
					t.Errorf("options = %v", v.Options)
				}
			},
		},
		{
			name: "invalid characters", volName: "x/y", wantErr: errdefs.ErrInvalidArgument,
			wantMsg: `create x/y: "x/y" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
		},
		{name: "dot dot", volName: "..", wantErr: errdefs.ErrInvalidArgument},
		{name: "leading dot", volName: ".hidden", wantErr: errdefs.ErrInvalidArgument},
		{
			name: "too short", volName: "a", wantErr: errdefs.ErrInvalidArgument,
			wantMsg: "create a: volume name is too short, names should be at least two alphanumeric characters",
		},
		{
			name: "unknown option", volName: "v1", opts: map[string]string{"foo": "bar"},
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `create v1: invalid option: "foo"`,
		},
		{
			name: "type without device", volName: "v1", opts: map[string]string{"type": "tmpfs"},
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `create v1: missing required option: "device"`,
		},
		{
			name: "o without device", volName: "v1", opts: map[string]string{"o": "size=1m"},
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `create v1: missing required option: "device"`,
		},
		{
			name: "relative bind device", volName: "v1", opts: map[string]string{"type": "none", "o": "bind", "device": "rel"},
			wantErr: errdefs.ErrInvalidArgument,
		},
		{name: "size", volName: "v1", opts: map[string]string{"size": "10G"}, wantErr: errdefs.ErrNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, root := newStore(t)
			v, err := s.Create(ctx, tt.volName, tt.labels, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Fatalf("err = %q\nwant  %q", err.Error(), tt.wantMsg)
				}
				entries, _ := os.ReadDir(root)
				if len(entries) != 0 {
					t.Errorf("left behind %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, root, v)
			got, err := s.Get(ctx, v.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != v.Name || !got.CreatedAt.Equal(v.CreatedAt) || got.Mountpoint != v.Mountpoint {
				t.Errorf("get = %+v, create = %+v", got, v)
			}
			entries, _ := os.ReadDir(root)
			if len(entries) != 1 || entries[0].Name() != v.Name {
				t.Errorf("root holds %v, want only the volume", entries)
			}
		})
	}
}

func TestCreateIdempotent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	first, err := s.Create(ctx, "data", map[string]string{"a": "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(first.Mountpoint, "f"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := s.Create(ctx, "data", map[string]string{"b": "2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Labels["a"] != "1" || again.Labels["b"] != "" || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("second create = %+v, want the existing volume", again)
	}
	if data, err := os.ReadFile(filepath.Join(again.Mountpoint, "f")); err != nil || string(data) != "keep" {
		t.Errorf("data lost: %q %v", data, err)
	}
}

func TestGet(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, err := s.Create(ctx, "data", nil, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		volName string
		wantMsg string
	}{
		{name: "exists", volName: "data"},
		{name: "missing", volName: "foo", wantMsg: "get foo: no such volume"},
		{name: "traversal", volName: "../volumes/data", wantMsg: "get ../volumes/data: no such volume"},
		{name: "empty", volName: "", wantMsg: "get : no such volume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := s.Get(ctx, tt.volName)
			if tt.wantMsg != "" {
				if !errdefs.IsNotFound(err) || err.Error() != tt.wantMsg {
					t.Fatalf("err = %v, want %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil || v.Name != tt.volName {
				t.Fatalf("get = %+v, %v", v, err)
			}
			p, err := s.Path(tt.volName)
			if err != nil || p != v.Mountpoint {
				t.Fatalf("path = %q, %v", p, err)
			}
		})
	}
	if _, err := s.Path("nope"); !errdefs.IsNotFound(err) {
		t.Errorf("path of missing volume: %v", err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	used := map[string][]string{"web-data": {"c1"}}
	s, _ := newStore(t, WithInUse(func(name string) []string { return used[name] }))
	for _, v := range []struct {
		name   string
		labels map[string]string
	}{
		{"web-data", map[string]string{"app": "web", "tier": "front"}},
		{"db-data", map[string]string{"app": "db"}},
		{"cache", nil},
	} {
		if _, err := s.Create(ctx, v.name, v.labels, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		filters map[string][]string
		want    []string
		wantErr string
	}{
		{name: "all", want: []string{"cache", "db-data", "web-data"}},
		{name: "name exact", filters: map[string][]string{"name": {"cache"}}, want: []string{"cache"}},
		{name: "name substring", filters: map[string][]string{"name": {"data"}}, want: []string{"db-data", "web-data"}},
		{name: "name regex", filters: map[string][]string{"name": {"^w"}}, want: []string{"web-data"}},
		{name: "name any of", filters: map[string][]string{"name": {"cache", "db"}}, want: []string{"cache", "db-data"}},
		{name: "label key", filters: map[string][]string{"label": {"app"}}, want: []string{"db-data", "web-data"}},
		{name: "label value", filters: map[string][]string{"label": {"app=db"}}, want: []string{"db-data"}},
		{name: "labels all match", filters: map[string][]string{"label": {"app=web", "tier=back"}}, want: nil},
		{name: "driver", filters: map[string][]string{"driver": {"local"}}, want: []string{"cache", "db-data", "web-data"}},
		{name: "other driver", filters: map[string][]string{"driver": {"nfs"}}, want: nil},
		{name: "dangling", filters: map[string][]string{"dangling": {"true"}}, want: []string{"cache", "db-data"}},
		{name: "not dangling", filters: map[string][]string{"dangling": {"0"}}, want: []string{"web-data"}},
		{name: "name regex any character", filters: map[string][]string{"name": {"db.data"}}, want: []string{"db-data"}},
		{name: "name anchored", filters: map[string][]string{"name": {"^data$"}}, want: nil},
		{name: "bad dangling", filters: map[string][]string{"dangling": {"maybe"}}, wantErr: "invalid filter 'dangling=[maybe]'"},
		{name: "conflicting dangling", filters: map[string][]string{"dangling": {"true", "0"}}, wantErr: "invalid filter 'dangling=[0 true]'"},
		{name: "unknown filter", filters: map[string][]string{"until": {"1h"}}, wantErr: "invalid filter 'until'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, err := s.List(ctx, filters.FromMap(tt.filters))
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(vs); !slices.Equal(got, tt.want) {
				t.Fatalf("list = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	inUse := func(name string) []string {
		if name == "busy" {
			return []string{"c1", "c2"}
		}
		return nil
	}
	tests := []struct {
		name    string
		volName string
		force   bool
		wantErr error
		wantMsg string
	}{
		{name: "unused", volName: "idle"},
		{name: "in use", volName: "busy", wantErr: errdefs.ErrConflict, wantMsg: "remove busy: volume is in use - [c1, c2]"},
		{name: "in use with force", volName: "busy", force: true, wantErr: errdefs.ErrConflict},
		{name: "missing", volName: "ghost", wantErr: errdefs.ErrNotFound, wantMsg: "remove ghost: no such volume"},
		{name: "missing with force", volName: "ghost", force: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, root := newStore(t)
			for _, n := range []string{"idle", "busy"} {
				v, err := s.Create(ctx, n, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Remove(ctx, tt.volName, tt.force, inUse)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Fatalf("err = %q, want %q", err.Error(), tt.wantMsg)
				}
				if tt.volName == "busy" {
					if _, err := s.Get(ctx, "busy"); err != nil {
						t.Errorf("busy volume gone: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, tt.volName); !errdefs.IsNotFound(err) {
				t.Errorf("still there: %v", err)
			}
			entries, _ := os.ReadDir(root)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("left behind %s", e.Name())
				}
			}
		})
	}
}

func TestRemoveUsesStoreInUse(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, WithInUse(func(string) []string { return []string{"abc"} }))
	if _, err := s.Create(ctx, "vol", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "vol", false, nil); !errdefs.IsConflict(err) {
		t.Fatalf("err = %v, want conflict", err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		filters     map[string][]string
		wantDeleted []string // named volumes; "anon" stands for the unused anonymous volume
		wantErr     string
	}{
		{name: "default prunes only unused anonymous", wantDeleted: []string{"anon"}},
		{name: "all", filters: map[string][]string{"all": {"true"}}, wantDeleted: []string{"anon", "named", "labelled"}},
		{name: "all with label", filters: map[string][]string{"all": {"1"}, "label": {"keep=no"}}, wantDeleted: []string{"labelled"}},
		{name: "all with label!", filters: map[string][]string{"all": {"true"}, "label!": {"keep"}}, wantDeleted: []string{"anon", "named"}},
		{name: "all false", filters: map[string][]string{"all": {"false"}}, wantDeleted: []string{"anon"}},
		{name: "all as strconv reads it", filters: map[string][]string{"all": {"T"}}, wantDeleted: []string{"anon", "named", "labelled"}},
		{name: "label! excludes only when every one matches", filters: map[string][]string{"all": {"true"}, "label!": {"keep", "other"}},
			wantDeleted: []string{"anon", "named", "labelled"}},
		{name: "bad all", filters: map[string][]string{"all": {"maybe"}}, wantErr: `invalid filter 'all': strconv.ParseBool: parsing "maybe": invalid syntax`},
		{name: "two all values", filters: map[string][]string{"all": {"true", "1"}}, wantErr: "invalid filter 'all=[1 true]': only one value is expected"},
		{name: "bad filter", filters: map[string][]string{"dangling": {"true"}}, wantErr: "invalid filter 'dangling'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			anon, err := s.Create(ctx, "", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			usedAnon, err := s.Create(ctx, "", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for n, l := range map[string]map[string]string{"named": nil, "labelled": {"keep": "no"}, "busy": nil} {
				if _, err := s.Create(ctx, n, l, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(anon.Mountpoint, "f"), make([]byte, 1000), 0o644); err != nil {
				t.Fatal(err)
			}
			inUse := func(name string) []string {
				if name == "busy" || name == usedAnon.Name {
					return []string{"c1"}
				}
				return nil
			}
			rep, err := s.Prune(ctx, filters.FromMap(tt.filters), inUse)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			var wantSpace uint64
			for _, n := range tt.wantDeleted {
				if n == "anon" {
					n = anon.Name
					wantSpace = 1000
				}
				want = append(want, n)
			}
			got := slices.Clone(rep.Deleted)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || rep.SpaceReclaimed != wantSpace {
				t.Fatalf("pruned %v (%d bytes), want %v (%d bytes)", got, rep.SpaceReclaimed, want, wantSpace)
			}
			for _, n := range []string{"busy", usedAnon.Name} {
				if _, err := s.Get(ctx, n); err != nil {
					t.Errorf("in-use volume %s pruned", n)
				}
			}
		})
	}
}

func TestSizeAndUsage(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, WithInUse(func(string) []string { return []string{"c1", "c2"} }))
	v, err := s.Create(ctx, "data", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := v.Mountpoint
	if err := os.MkdirAll(filepath.Join(p, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "a"), make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "sub", "b"), make([]byte, 50), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(p, "a"), filepath.Join(p, "sub", "a-link")); err != nil {
		t.Fatal(err)
	}
	// A symlink counts as itself (its target's length), never as what it points to.
	if err := os.Symlink("/usr/bin", filepath.Join(p, "link")); err != nil {
		t.Fatal(err)
	}
	want := 100 + 50 + int64(len("/usr/bin"))
	size, err := s.Size(ctx, "data")
	if err != nil || size != want {
		t.Fatalf("size = %d, %v; want %d", size, err, want)
	}
	u, err := s.Usage(ctx, "data")
	if err != nil || u.Size != want || u.RefCount != 2 {
		t.Fatalf("usage = %+v, %v", u, err)
	}
	if _, err := s.Size(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("size of missing volume: %v", err)
	}
}

func TestNewCleansLeftovers(t *testing.T) {
	root := filepath.Join(t.TempDir(), "volumes")
	for _, d := range []string{".tmp-123/_data", ".rm-456/old/_data", "keep/_data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, []string{"keep"}) {
		t.Fatalf("root holds %v", got)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     map[string]string
		wantNil  bool
		wantData string
		wantErr  bool
	}{
		{name: "none", wantNil: true},
		{name: "tmpfs", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=10m,uid=1000,noexec"}, wantData: "size=10m,uid=1000"},
		{name: "bind ro", opts: map[string]string{"type": "none", "device": "/srv", "o": "bind,ro"}},
		{name: "device without type", opts: map[string]string{"device": "/srv"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mo, err := parseOptions(tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil != (mo == nil) {
				t.Fatalf("opts = %+v", mo)
			}
			if mo != nil && mo.data != tt.wantData {
				t.Fatalf("data = %q, want %q", mo.data, tt.wantData)
			}
		})
	}
}
