package filters

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestParseTimestamp(t *testing.T) {
	zone := time.FixedZone("UTC+2", 2*3600)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, zone)
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr string
	}{
		{name: "duration back from now", in: "10m", want: utc("2026-06-15T09:50:00Z")},
		{name: "compound duration", in: "1h30m", want: utc("2026-06-15T08:30:00Z")},
		{name: "negative duration is ahead", in: "-1h", want: utc("2026-06-15T11:00:00Z")},
		{name: "RFC 3339 in UTC", in: "2026-01-01T00:00:00Z", want: utc("2026-01-01T00:00:00Z")},
		{name: "RFC 3339 with fraction", in: "2026-01-01T00:00:00.25Z", want: utc("2026-01-01T00:00:00.25Z")},
		{name: "positive offset", in: "2026-01-01T10:00:00+02:00", want: utc("2026-01-01T08:00:00Z")},
		{name: "negative offset", in: "2026-01-01T10:00:00-05:00", want: utc("2026-01-01T15:00:00Z")},
		{name: "minutes with zone", in: "2026-01-01T10:30Z", want: utc("2026-01-01T10:30:00Z")},
		{name: "hour with zone", in: "2026-01-01T10+01:00", want: utc("2026-01-01T09:00:00Z")},
		{name: "date with zone", in: "2026-01-01Z", want: utc("2026-01-01T00:00:00Z")},
		{name: "no zone is now's zone (container prune --filter until=…)", in: "2026-01-01T00:00:00", want: utc("2025-12-31T22:00:00Z")},
		{name: "no zone with fraction", in: "2026-01-01T00:00:00.5", want: utc("2025-12-31T22:00:00.5Z")},
		{name: "no zone, minutes", in: "2026-01-01T00:30", want: utc("2025-12-31T22:30:00Z")},
		{name: "no zone, hour", in: "2026-01-01T03", want: utc("2026-01-01T01:00:00Z")},
		{name: "date only", in: "2026-01-01", want: utc("2025-12-31T22:00:00Z")},
		{name: "unix seconds", in: "1700000000", want: time.Unix(1700000000, 0).UTC()},
		{name: "unix seconds with fraction", in: "1700000000.5", want: time.Unix(1700000000, 500000000).UTC()},
		{name: "unix nanoseconds cut to nine digits", in: "1700000000.1234567891", want: time.Unix(1700000000, 123456789).UTC()},
		{name: "zero is the epoch", in: "0", want: time.Unix(0, 0).UTC()},
		{name: "empty", in: "", wantErr: "value is empty"},
		{name: "a bad date says why", in: "2026-13-01", wantErr: "month out of range"},
		{name: "words", in: "yesterday", wantErr: "failed to parse value as time or duration"},
		{name: "bad fraction", in: "17.x", wantErr: "invalid nanoseconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimestamp(tt.in, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTimestamp(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTimestamp(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("ParseTimestamp(%q) = %v, want %v in UTC", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseUnixTimestamp(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{name: "empty is zero", in: ""},
		{name: "seconds", in: "1700000000", want: time.Unix(1700000000, 0)},
		{name: "seconds.nanoseconds", in: "1700000000.000000001", want: time.Unix(1700000000, 1)},
		{name: "short fraction is padded", in: "1700000000.5", want: time.Unix(1700000000, 500000000)},
		{name: "a date is not a unix timestamp", in: "2026-01-01", wantErr: true},
		{name: "a duration is not one either", in: "10m", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUnixTimestamp(tt.in)
			if tt.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("ParseUnixTimestamp(%q) error = %v, want ErrInvalidArgument", tt.in, err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ParseUnixTimestamp(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestUntil(t *testing.T) {
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		args    Args
		want    time.Time
		wantErr string
	}{
		{name: "absent", args: NewArgs()},
		{name: "duration", args: NewArgs(Arg("until", "24h")), want: now.Add(-24 * time.Hour)},
		{name: "local date-time", args: NewArgs(Arg("until", "2026-01-01T00:00:00")), want: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "two values", args: NewArgs(Arg("until", "1h"), Arg("until", "2h")), wantErr: "more than one until filter specified"},
		{name: "bad value", args: NewArgs(Arg("until", "soon")), wantErr: "invalid value for 'until' filter: failed to parse value as time or duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.args.Until(now)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Until = %v, want ErrInvalidArgument %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("Until = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
