package cloud

import (
	"net/http"
	"testing"
)

func TestStripAWSChunked(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent []string
		want []string
	}{
		{name: "alone", sent: []string{"aws-chunked"}, want: nil},
		{name: "after gzip", sent: []string{"gzip,aws-chunked"}, want: []string{"gzip"}},
		{name: "before a list", sent: []string{"aws-chunked, deflate, gzip"}, want: []string{"deflate, gzip"}},
		{name: "over two header lines", sent: []string{"br", "AWS-CHUNKED, gzip"}, want: []string{"br, gzip"}},
		{name: "absent: left as sent", sent: []string{"deflate,gzip"}, want: []string{"deflate,gzip"}},
		{name: "no header", sent: nil, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.sent {
				h.Add("Content-Encoding", v)
			}
			stripAWSChunked(h)
			got := h.Values("Content-Encoding")
			if len(got) != len(tc.want) || len(got) > 0 && got[0] != tc.want[0] {
				t.Errorf("Content-Encoding %q, want %q", got, tc.want)
			}
		})
	}
}
