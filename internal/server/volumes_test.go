package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The volume routes answer in docker's JSON shapes, converted from Berth's volume type: the exact bodies the
// docker CLI and docker-py parse.
func TestVolumeRoutesJSON(t *testing.T) {
	e := newFakeEngine()
	srv, _ := e.serve(t)
	const data = `{"CreatedAt":"2024-05-06T07:08:09Z","Driver":"local","Labels":{"a":"b"},"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":{"type":"tmpfs"},"Scope":"local"}`
	const bare = `{"CreatedAt":"2024-05-06T07:08:09Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/bare/_data","Name":"bare","Options":null,"Scope":"local"}`
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{name: "empty list", method: "GET", path: "/v1.47/volumes", status: 200, want: `{"Volumes":[],"Warnings":[]}`},
		{name: "empty prune", method: "POST", path: "/v1.47/volumes/prune", status: 200, want: `{"VolumesDeleted":[],"SpaceReclaimed":0}`},
		{name: "create", method: "POST", path: "/v1.47/volumes/create", body: `{"Name":"data","Labels":{"a":"b"},"DriverOpts":{"type":"tmpfs"}}`, status: 201, want: data},
		{name: "create without labels", method: "POST", path: "/v1.47/volumes/create", body: `{"Name":"bare"}`, status: 201, want: bare},
		{name: "create with another driver", method: "POST", path: "/v1.47/volumes/create", body: `{"Name":"x","Driver":"nfs"}`, status: 404,
			want: `{"message":"error looking up volume plugin nfs: plugin \"nfs\" not found"}`},
		{name: "inspect", method: "GET", path: "/v1.47/volumes/data", status: 200, want: data},
		{name: "inspect missing", method: "GET", path: "/v1.47/volumes/nope", status: 404, want: `{"message":"get nope: no such volume"}`},
		{name: "list", method: "GET", path: "/v1.47/volumes", status: 200, want: `{"Volumes":[` + bare + `,` + data + `],"Warnings":[]}`},
		{name: "disk usage", method: "GET", path: "/v1.41/system/df", status: 200,
			want: `"Volumes":[` + strings.TrimSuffix(bare, "}") + `,"UsageData":{"RefCount":1,"Size":42}},` + strings.TrimSuffix(data, "}") + `,"UsageData":{"RefCount":1,"Size":42}}],`},
		{name: "prune", method: "POST", path: "/v1.47/volumes/prune", status: 200, want: `{"VolumesDeleted":["bare","data"],"SpaceReclaimed":84}`},
	}
	for _, st := range steps {
		req, _ := http.NewRequest(st.method, srv.URL+st.path, strings.NewReader(st.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := strings.TrimSpace(string(body))
		ok := got == st.want
		if st.name == "disk usage" {
			ok = strings.Contains(got, st.want)
		}
		if resp.StatusCode != st.status || !ok {
			t.Errorf("%s: %d %s\nwant %d %s", st.name, resp.StatusCode, got, st.status, st.want)
		}
	}
}
