package filters

import (
	"slices"
	"testing"

	"github.com/containerd/errdefs"
)

func TestFromJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]string // key -> sorted values; nil values: key present without values
		wantErr bool
	}{
		{name: "empty is no filters", in: "", want: map[string][]string{}},
		{name: "set shape", in: `{"name":{"web":true,"db":true},"status":{"running":true}}`,
			want: map[string][]string{"name": {"db", "web"}, "status": {"running"}}},
		{name: "legacy list shape", in: `{"name":["web","db"],"label":["a=b"]}`,
			want: map[string][]string{"name": {"db", "web"}, "label": {"a=b"}}},
		{name: "false values are absent, the key is not", in: `{"dangling":{"true":false}}`,
			want: map[string][]string{"dangling": nil}},
		{name: "empty object", in: `{}`, want: map[string][]string{}},
		{name: "empty list keeps the key", in: `{"label":[]}`, want: map[string][]string{"label": nil}},
		{name: "a string value is not a filter", in: `{"name":"web"}`, wantErr: true},
		{name: "a list is not a filter", in: `["name=web"]`, wantErr: true},
		{name: "not JSON", in: `name=web`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromJSON(tt.in)
			if tt.wantErr {
				if !errdefs.IsInvalidArgument(err) || err.Error() != "invalid filter" {
					t.Fatalf("FromJSON(%s) error = %v, want ErrInvalidArgument \"invalid filter\"", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Len() != len(tt.want) {
				t.Errorf("Len = %d, want %d", got.Len(), len(tt.want))
			}
			for k, vs := range tt.want {
				if !got.Contains(k) {
					t.Errorf("key %q missing", k)
				}
				if g := got.Get(k); !slices.Equal(g, vs) && !(len(g) == 0 && len(vs) == 0) {
					t.Errorf("Get(%q) = %q, want %q", k, g, vs)
				}
			}
		})
	}
}

func TestString(t *testing.T) {
	a := mustJSON(t, `{"name":["web","db"],"label":["a=b"],"dangling":[]}`)
	if got, want := a.String(), "map[dangling:[] label:[a=b] name:[db web]]"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		args     Args
		accepted []string
		wantErr  string
	}{
		{name: "no filters", args: NewArgs(), accepted: []string{"name"}},
		{name: "zero Args", args: Args{}, accepted: nil},
		{name: "accepted keys", args: NewArgs(Arg("name", "x"), Arg("label", "a")), accepted: []string{"label", "name"}},
		{name: "unknown key", args: NewArgs(Arg("name", "x"), Arg("colour", "red")), accepted: []string{"name"},
			wantErr: "invalid filter 'colour'"},
		{name: "first unknown key in order", args: NewArgs(Arg("zeta", "1"), Arg("alpha", "1")), accepted: []string{"name"},
			wantErr: "invalid filter 'alpha'"},
		{name: "keys are case sensitive", args: NewArgs(Arg("Name", "x")), accepted: []string{"name"},
			wantErr: "invalid filter 'Name'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.args.Validate(tt.accepted...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr {
				t.Fatalf("Validate = %v, want ErrInvalidArgument %q", err, tt.wantErr)
			}
		})
	}
}

func TestMatchers(t *testing.T) {
	type matcher func(a Args, key, source string) bool
	exact, unique, fuzzy, re := Args.ExactMatch, Args.UniqueExactMatch, Args.FuzzyMatch, Args.Match
	tests := []struct {
		name   string
		args   Args
		match  matcher
		source string
		want   bool
	}{
		{name: "exact: no filter matches all", args: NewArgs(), match: exact, source: "x", want: true},
		{name: "exact: equal", args: NewArgs(Arg("k", "web")), match: exact, source: "web", want: true},
		{name: "exact: any value", args: NewArgs(Arg("k", "db"), Arg("k", "web")), match: exact, source: "web", want: true},
		{name: "exact: prefix is not equal", args: NewArgs(Arg("k", "we")), match: exact, source: "web", want: false},
		{name: "exact: key with no values matches all", args: mustJSON(t, `{"k":[]}`), match: exact, source: "x", want: true},

		{name: "unique: one value equal", args: NewArgs(Arg("k", "web")), match: unique, source: "web", want: true},
		{name: "unique: two values never", args: NewArgs(Arg("k", "web"), Arg("k", "db")), match: unique, source: "web", want: false},
		{name: "unique: no filter matches all", args: NewArgs(), match: unique, source: "web", want: true},

		{name: "fuzzy: prefix", args: NewArgs(Arg("k", "3f2a")), match: fuzzy, source: "3f2a9c", want: true},
		{name: "fuzzy: not a substring", args: NewArgs(Arg("k", "2a9c")), match: fuzzy, source: "3f2a9c", want: false},
		{name: "fuzzy: exact", args: NewArgs(Arg("k", "web")), match: fuzzy, source: "web", want: true},

		{name: "regexp: substring", args: NewArgs(Arg("k", "web")), match: re, source: "/my-web-1", want: true},
		{name: "regexp: dot is any character", args: NewArgs(Arg("k", "shop.web")), match: re, source: "/shop-web", want: true},
		{name: "regexp: anchored with the slash", args: NewArgs(Arg("k", "^/x$")), match: re, source: "/x", want: true},
		{name: "regexp: anchored does not match longer", args: NewArgs(Arg("k", "^/x$")), match: re, source: "/xy", want: false},
		{name: "regexp: no match", args: NewArgs(Arg("k", "^db")), match: re, source: "/web", want: false},
		{name: "regexp: invalid expression matches exactly", args: NewArgs(Arg("k", "a(b")), match: re, source: "a(b", want: true},
		{name: "regexp: invalid expression matches nothing else", args: NewArgs(Arg("k", "a(b")), match: re, source: "a(bc", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.match(tt.args, "k", tt.source); got != tt.want {
				t.Errorf("match(%q) = %v, want %v", tt.source, got, tt.want)
			}
		})
	}
}

func mustJSON(t *testing.T, s string) Args {
	t.Helper()
	a, err := FromJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLabels(t *testing.T) {
	labels := map[string]string{"env": "prod", "tier": "web", "empty": ""}
	tests := []struct {
		name   string
		args   Args
		labels map[string]string
		kv     bool // MatchKVList("label")
		all    bool // MatchLabels
	}{
		{name: "no filter", args: NewArgs(), labels: labels, kv: true, all: true},
		{name: "key present", args: NewArgs(Arg("label", "env")), labels: labels, kv: true, all: true},
		{name: "key absent", args: NewArgs(Arg("label", "owner")), labels: labels, kv: false, all: false},
		{name: "key=value equal", args: NewArgs(Arg("label", "env=prod")), labels: labels, kv: true, all: true},
		{name: "key=value differs", args: NewArgs(Arg("label", "env=dev")), labels: labels, kv: false, all: false},
		{name: "key= matches an empty value", args: NewArgs(Arg("label", "empty=")), labels: labels, kv: true, all: true},
		{name: "every label value must match", args: NewArgs(Arg("label", "env=prod"), Arg("label", "tier=db")), labels: labels, kv: false, all: false},
		{name: "value with = in it", args: NewArgs(Arg("label", "url=a=b")), labels: map[string]string{"url": "a=b"}, kv: true, all: true},
		{name: "no labels, a filter", args: NewArgs(Arg("label", "env")), labels: nil, kv: false, all: false},
		{name: "label! present excludes", args: NewArgs(Arg("label!", "env")), labels: labels, kv: true, all: false},
		{name: "label! absent keeps", args: NewArgs(Arg("label!", "owner")), labels: labels, kv: true, all: true},
		{name: "label! value differs keeps", args: NewArgs(Arg("label!", "env=dev")), labels: labels, kv: true, all: true},
		{name: "label! excludes only when all match", args: NewArgs(Arg("label!", "env"), Arg("label!", "owner")), labels: labels, kv: true, all: true},
		{name: "label! on no labels keeps", args: NewArgs(Arg("label!", "env")), labels: nil, kv: true, all: true},
		{name: "label and label!", args: NewArgs(Arg("label", "tier=web"), Arg("label!", "env=prod")), labels: labels, kv: true, all: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.args.MatchKVList("label", tt.labels); got != tt.kv {
				t.Errorf("MatchKVList = %v, want %v", got, tt.kv)
			}
			if got := tt.args.MatchLabels(tt.labels); got != tt.all {
				t.Errorf("MatchLabels = %v, want %v", got, tt.all)
			}
		})
	}
}

func TestGetBoolOrDefault(t *testing.T) {
	tests := []struct {
		name    string
		args    Args
		def     bool
		want    bool
		wantErr string
	}{
		{name: "absent is the default", args: NewArgs(), def: true, want: true},
		{name: "true", args: NewArgs(Arg("dangling", "true")), want: true},
		{name: "1", args: NewArgs(Arg("dangling", "1")), want: true},
		{name: "false", args: NewArgs(Arg("dangling", "false")), def: true, want: false},
		{name: "0", args: NewArgs(Arg("dangling", "0")), def: true, want: false},
		{name: "agreeing values", args: NewArgs(Arg("dangling", "true"), Arg("dangling", "1")), want: true},
		{name: "not a boolean", args: NewArgs(Arg("dangling", "maybe")), wantErr: "invalid filter 'dangling=[maybe]'"},
		{name: "conflicting", args: NewArgs(Arg("dangling", "true"), Arg("dangling", "false")),
			wantErr: "invalid filter 'dangling=[false true]'"},
		{name: "no value", args: mustJSON(t, `{"dangling":[]}`), wantErr: "invalid filter 'dangling'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.args.GetBoolOrDefault("dangling", tt.def)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want ErrInvalidArgument %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("GetBoolOrDefault = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
