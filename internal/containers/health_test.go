package containers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

func TestHealthProbeCmd(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  container.Config
		want []string
	}{
		{"none configured", container.Config{}, nil},
		{"NONE", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}, nil},
		{"CMD", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true", "x"}}}, []string{"true", "x"}},
		{"CMD-SHELL", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "test -f /ok"}}}, []string{"/bin/sh", "-c", "test -f /ok"}},
		{"CMD-SHELL with SHELL", container.Config{Shell: []string{"/bin/ash", "-eo"}, Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "x"}}}, []string{"/bin/ash", "-eo", "x"}},
		{"empty CMD", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD"}}}, nil},
		{"unknown type", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"HTTP", "/"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := healthProbeCmd(&tc.cfg); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecordProbe(t *testing.T) {
	started := time.Unix(1000, 0)
	at := func(d time.Duration, code int) *container.HealthcheckResult {
		return &container.HealthcheckResult{Start: started.Add(d), End: started.Add(d + time.Millisecond), ExitCode: code}
	}
	type step struct {
		r       *container.HealthcheckResult
		status  container.HealthStatus
		streak  int
		changed bool
	}
	for _, tc := range []struct {
		name  string
		hc    container.HealthConfig
		steps []step
	}{
		{"success makes healthy", container.HealthConfig{}, []step{
			{at(time.Second, 0), container.Healthy, 0, true},
			{at(2*time.Second, 0), container.Healthy, 0, false},
		}},
		{"three failures by default", container.HealthConfig{}, []step{
			{at(time.Second, 1), container.Starting, 1, false},
			{at(2*time.Second, 1), container.Starting, 2, false},
			{at(3*time.Second, 1), container.Unhealthy, 3, true},
			{at(4*time.Second, 0), container.Healthy, 0, true},
		}},
		{"retries", container.HealthConfig{Retries: 1}, []step{
			{at(time.Second, 2), container.Unhealthy, 1, true},
		}},
		{"start period forgives failures while starting", container.HealthConfig{Retries: 1, StartPeriod: 5 * time.Second}, []step{
			{at(time.Second, 1), container.Starting, 0, false},
			{at(4*time.Second, 1), container.Starting, 0, false},
			{at(6*time.Second, 1), container.Unhealthy, 1, true},
		}},
		{"start period does not forgive once healthy", container.HealthConfig{Retries: 1, StartPeriod: 5 * time.Second}, []step{
			{at(time.Second, 0), container.Healthy, 0, true},
			{at(2*time.Second, 1), container.Unhealthy, 1, true},
		}},
		{"a timed-out probe (-1) is a failure", container.HealthConfig{Retries: 1}, []step{
			{at(time.Second, -1), container.Unhealthy, 1, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &container.Health{Status: container.Starting}
			for i, s := range tc.steps {
				changed := recordProbe(h, &tc.hc, started, s.r)
				if h.Status != s.status || h.FailingStreak != s.streak || changed != s.changed {
					t.Fatalf("step %d: status %s streak %d changed %v; want %s %d %v", i, h.Status, h.FailingStreak, changed, s.status, s.streak, s.changed)
				}
			}
		})
	}
}

func TestRecordProbeKeepsLastFive(t *testing.T) {
	h := &container.Health{Status: container.Starting}
	for i := 0; i < 8; i++ {
		recordProbe(h, &container.HealthConfig{}, time.Time{}, &container.HealthcheckResult{ExitCode: i})
	}
	if len(h.Log) != 5 || h.Log[0].ExitCode != 3 || h.Log[4].ExitCode != 7 {
		t.Fatalf("log = %+v", h.Log)
	}
}

func TestNextProbeIn(t *testing.T) {
	hc := &container.HealthConfig{Interval: 10 * time.Second, StartPeriod: 30 * time.Second, StartInterval: time.Second}
	for _, tc := range []struct {
		name   string
		hc     *container.HealthConfig
		status container.HealthStatus
		since  time.Duration
		want   time.Duration
	}{
		{"defaults", &container.HealthConfig{}, container.Starting, 0, 30 * time.Second},
		{"start interval while starting", hc, container.Starting, 2 * time.Second, time.Second},
		{"interval once healthy", hc, container.Healthy, 2 * time.Second, 10 * time.Second},
		{"start interval up to the start period's end", hc, container.Starting, 29 * time.Second, time.Second},
		{"interval after the start period", hc, container.Starting, 31 * time.Second, 10 * time.Second},
		{"default start interval", &container.HealthConfig{StartPeriod: time.Minute}, container.Starting, 0, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextProbeIn(tc.hc, tc.status, tc.since); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMergeHealthcheck(t *testing.T) {
	img := &container.HealthConfig{Test: []string{"CMD-SHELL", "img"}, Interval: time.Second, Retries: 4}
	if got := mergeHealthcheck(nil, img); !reflect.DeepEqual(got, img) || got == img {
		t.Fatalf("inherit: %+v", got)
	}
	got := mergeHealthcheck(&container.HealthConfig{Interval: 2 * time.Second}, img)
	if got.Test[1] != "img" || got.Interval != 2*time.Second || got.Retries != 4 {
		t.Fatalf("merge: %+v", got)
	}
	if got := mergeHealthcheck(&container.HealthConfig{Test: []string{"NONE"}}, img); got.Test[0] != "NONE" {
		t.Fatalf("--no-healthcheck: %+v", got)
	}
	if mergeHealthcheck(nil, nil) != nil {
		t.Fatal("no health check should stay none")
	}
}

func TestValidateHealthcheck(t *testing.T) {
	for _, tc := range []struct {
		hc   container.HealthConfig
		want string
	}{
		{container.HealthConfig{Interval: time.Microsecond}, "Interval in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Timeout: time.Microsecond}, "Timeout in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{StartPeriod: time.Microsecond}, "StartPeriod in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Retries: -1}, "Retries in Healthcheck cannot be negative"},
		{container.HealthConfig{Interval: time.Second, Retries: 2}, ""},
	} {
		err := validateHealthcheck(&tc.hc)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: err %v, want %q", tc.hc, err, tc.want)
		}
	}
}

func TestLimitedBuffer(t *testing.T) {
	var b limitedBuffer
	b.Write([]byte(strings.Repeat("a", 4000)))
	b.Write([]byte(strings.Repeat("b", 200)))
	if s := b.String(); len(s) != 4096+3 || !strings.HasSuffix(s, "bb...") {
		t.Fatalf("len %d suffix %q", len(s), s[len(s)-6:])
	}
}
