package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berth/berth/cmd/internal/cli"
)

// run executes berthd's command line in-process and returns stdout+stderr and the exit status. Only help and
// errors are exercised here: the servers themselves run in the end-to-end tests.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand(&out)
	root.SetOut(&out)
	code := cli.Execute(context.Background(), root, args, &out, nil)
	return out.String(), code
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		asPlugin bool
		args     []string
		code     int
		want     []string
	}{
		{name: "run by berth: its help", asPlugin: true, args: []string{"--help"},
			want: []string{"Usage:  berth [OPTIONS] COMMAND", "Management Commands:\n  registry    Run an OCI distribution registry", "Commands:\n  daemon      Run the Berth engine", "-H, --host string"}},
		{name: "run by berth: daemon help", asPlugin: true, args: []string{"-D", "daemon", "--help"},
			want: []string{"Usage:  berth daemon [OPTIONS]", "--data-root string", "-H, --host strings"}},
		{name: "run by berth: registry flag error", asPlugin: true, args: []string{"registry", "serve", "--bogus"}, code: 125,
			want: []string{"unknown flag: --bogus\n\nUsage:  berth registry serve [OPTIONS]\n\nRun 'berth registry serve --help' for more information\n"}},
		{name: "run by berth: daemon takes no arguments", asPlugin: true, args: []string{"daemon", "extra"}, code: 1,
			want: []string{`unknown command "extra" for "berth daemon"`}},
		{name: "as itself: the daemon's flags on the root", args: []string{"--help"},
			want: []string{"Usage:  berthd [OPTIONS]", "--data-root string", "registry    Run an OCI distribution registry"}},
		{name: "as itself: registry", args: []string{"registry", "serve", "--help"},
			want: []string{"Usage:  berthd registry serve [OPTIONS]", "--proxy-remote-url string"}},
		{name: "as itself: version", args: []string{"--version"}, want: []string{"Berth version dev, build "}},
		{name: "run by berth: s3 serve help", asPlugin: true, args: []string{"s3", "serve", "--help"},
			want: []string{"Usage:  berth s3 serve [OPTIONS]", "--data-dir string", "--domain strings", "BERTH_ROOT_ACCESS_KEY_ID"}},
		{name: "run by berth: s3 serve flag error", asPlugin: true, args: []string{"s3", "serve", "--bogus"}, code: 125,
			want: []string{"unknown flag: --bogus\n\nUsage:  berth s3 serve [OPTIONS]\n\nRun 'berth s3 serve --help' for more information\n"}},
		{name: "as itself: s3 serve", args: []string{"s3", "serve", "--help"},
			want: []string{"Usage:  berthd s3 serve [OPTIONS]", "--tls-cert string", "--legacy-bucket-defaults"}},
		{name: "the daemon's cloud endpoint flags", args: []string{"--help"},
			want: []string{"--cloud-addr string", "--cloud-domain strings", "--cloud-region string", "--cloud-tlscert string", "--cloud-tlskey string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.asPlugin {
				t.Setenv(cli.PluginEnv, "berth")
			} else {
				t.Setenv(cli.PluginEnv, "")
			}
			out, code := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if !tt.asPlugin && strings.Contains(out, "completion") {
				t.Errorf("cobra's completion command is listed:\n%s", out)
			}
		})
	}
}
