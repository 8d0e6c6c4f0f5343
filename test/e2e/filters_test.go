package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFilters drives Docker's filter semantics through the real docker CLI: `ps --filter name=` is a regular
// expression against the name with and without its slash, `container prune --filter until=` takes Docker's
// timestamps, a date-time without a zone among them, and `ancestor=` matches descendant images' containers.
func TestFilters(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	for _, name := range []string{"shop-web", "shopweb", "cart-web", "xy"} {
		d.docker(t, "create", "--name", name, "busybox", "true")
	}
	d.docker(t, "create", "--name", "kept", "--label", "keep=yes", "busybox", "true")
	d.docker(t, "run", "-d", "--name", "runner", "busybox", "sleep", "300")

	names := func(args ...string) []string {
		t.Helper()
		out := strings.Fields(d.docker(t, append([]string{"ps", "--format", "{{.Names}}"}, args...)...))
		slices.Sort(out)
		return out
	}
	psTests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "regexp: dot is any character", args: []string{"-a", "--filter", "name=shop.web"}, want: []string{"shop-web"}},
		{name: "regexp anchored with the slash", args: []string{"-a", "--filter", "name=^/xy$"}, want: []string{"xy"}},
		{name: "regexp anchored without the slash", args: []string{"-a", "--filter", "name=^shop"}, want: []string{"shop-web", "shopweb"}},
		{name: "substring", args: []string{"-a", "--filter", "name=web"}, want: []string{"cart-web", "shop-web", "shopweb"}},
		{name: "alternatives", args: []string{"-a", "--filter", "name=^/xy$", "--filter", "name=cart"}, want: []string{"cart-web", "xy"}},
		{name: "without -a only running ones", args: []string{"--filter", "name=r"}, want: []string{"runner"}},
		{name: "status implies -a", args: []string{"--filter", "status=created", "--filter", "name=web"}, want: []string{"cart-web", "shop-web", "shopweb"}},
		{name: "label", args: []string{"-a", "--filter", "label=keep=yes"}, want: []string{"kept"}},
	}
	for _, tt := range psTests {
		t.Run("ps "+tt.name, func(t *testing.T) {
			if got := names(tt.args...); !slices.Equal(got, tt.want) {
				t.Errorf("docker ps %s = %q, want %q", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}
	if r := d.dockerR(nil, "ps", "--filter", "colour=red"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter 'colour'") {
		t.Errorf("ps with an unknown filter: %s", r)
	}

	// A date-time without a zone is local time; everything here was created after the start of 2026.
	out := d.docker(t, "container", "prune", "--force", "--filter", "until=2026-01-01T00:00:00")
	if strings.Contains(out, "Deleted Containers") {
		t.Fatalf("prune until 2026-01-01 deleted containers created since: %s", out)
	}
	if got := names("-a"); len(got) != 6 {
		t.Fatalf("after a prune that matched nothing: %q", got)
	}
	if r := d.dockerR(nil, "container", "prune", "--force", "--filter", "until=soon"); r.Code == 0 || !strings.Contains(r.Stderr, "until") {
		t.Errorf("prune until=soon: %s", r)
	}
	later := time.Now().Add(time.Hour).Format("2006-01-02T15:04:05")
	out = d.docker(t, "container", "prune", "--force", "--filter", "until="+later, "--filter", "label!=keep")
	if !strings.Contains(out, "Deleted Containers") {
		t.Fatalf("prune until %s: %s", later, out)
	}
	if got := names("-a"); !slices.Equal(got, []string{"kept", "runner"}) {
		t.Fatalf("after prune until %s, label!=keep: %q, want the running and the labelled container", later, got)
	}

	// ancestor matches containers of the image and of the images built on it, by name or by ID.
	d.docker(t, "commit", "kept", "child:1")
	d.docker(t, "create", "--name", "of-child", "child:1", "true")
	busyboxID := strings.TrimSpace(d.docker(t, "image", "inspect", "-f", "{{.Id}}", "busybox"))
	for _, tt := range []struct {
		name, ancestor string
		want           []string
	}{
		{name: "an image and its descendants", ancestor: "busybox", want: []string{"kept", "of-child", "runner"}},
		{name: "by image ID", ancestor: busyboxID, want: []string{"kept", "of-child", "runner"}},
		{name: "a descendant only", ancestor: "child:1", want: []string{"of-child"}},
		{name: "an unknown image", ancestor: "nosuchimage", want: nil},
	} {
		if got := names("-a", "--filter", "ancestor="+tt.ancestor); !slices.Equal(got, tt.want) {
			t.Errorf("ps --filter ancestor, %s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
