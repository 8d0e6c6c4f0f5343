package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berth/berth/client"
	berthevents "github.com/berth/berth/internal/events"
)

// Events through Berth's client: past events replay from since, new ones stream as they are published, filters
// apply, until ends the stream.
func TestEventsRoute(t *testing.T) {
	e := newFakeEngine()
	_, c := e.serve(t)
	start := time.Now()
	e.bus.Publish(berthevents.ContainerEventType, berthevents.ActionCreate, "c1", map[string]string{"name": "one"})
	e.bus.Publish(berthevents.ImageEventType, berthevents.ActionTag, "sha256:img", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, errs := c.Events(ctx, client.EventsOptions{Since: start.Add(-time.Second).Format(time.RFC3339Nano), Filters: client.Filters{"type": {"container"}}})
	next := func() events.Message {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return events.Message{}
	}
	if m := next(); m.Actor.ID != "c1" || m.Action != events.ActionCreate {
		t.Fatalf("replayed %+v", m)
	}
	e.bus.Publish(berthevents.ImageEventType, berthevents.ActionTag, "sha256:img2", nil)
	e.bus.Publish(berthevents.ContainerEventType, berthevents.ActionStart, "c1", map[string]string{"name": "one"})
	if m := next(); m.Actor.ID != "c1" || m.Action != events.ActionStart {
		t.Fatalf("streamed %+v (the image event should have been filtered out)", m)
	}

	// until in the past: the stream replays and ends.
	msgs2, errs2 := c.Events(context.Background(), client.EventsOptions{Since: start.Add(-time.Second).Format(time.RFC3339Nano), Until: time.Now().Format(time.RFC3339Nano)})
	n := 0
	for range msgs2 {
		n++
	}
	if err := <-errs2; !errors.Is(err, io.EOF) || n != 4 {
		t.Fatalf("bounded stream: %d events, end %v", n, err)
	}
}

// The wire form of events: docker's Message, with the legacy status, id and from of container and image events
// that docker-py and `docker events --format '{{.Status}}'` read.
func TestEventsWire(t *testing.T) {
	clock := time.Unix(1700000000, 5)
	e := newFakeEngine()
	e.bus = berthevents.New(berthevents.WithClock(func() time.Time { return clock }))
	srv, _ := e.serve(t)
	e.bus.Publish(berthevents.ContainerEventType, berthevents.ActionStart, "abc", map[string]string{"name": "web", "image": "busybox"})
	e.bus.Publish(berthevents.ContainerEventType, berthevents.ActionPrune, "", map[string]string{"reclaimed": "4096"})
	e.bus.Publish(berthevents.ImageEventType, berthevents.ActionTag, "sha256:aa", map[string]string{"name": "app:v1"})
	e.bus.Publish(berthevents.VolumeEventType, berthevents.ActionCreate, "data", map[string]string{"driver": "local"})
	e.bus.Publish(berthevents.NetworkEventType, berthevents.ActionConnect, "n1", map[string]string{"name": "shop", "container": "abc", "type": "bridge"})
	resp, err := http.Get(srv.URL + "/v1.41/events?since=1&until=1700000000.000000005")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	const tail = `"scope":"local","time":1700000000,"timeNano":1700000000000000005}`
	want := []string{
		`{"status":"start","id":"abc","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"web"}},` + tail,
		`{"status":"prune","id":"","from":"","Type":"container","Action":"prune","Actor":{"ID":"","Attributes":{"reclaimed":"4096"}},` + tail,
		`{"status":"tag","id":"sha256:aa","Type":"image","Action":"tag","Actor":{"ID":"sha256:aa","Attributes":{"name":"app:v1"}},` + tail,
		`{"Type":"volume","Action":"create","Actor":{"ID":"data","Attributes":{"driver":"local"}},` + tail,
		`{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"container":"abc","name":"shop","type":"bridge"}},` + tail,
	}
	if got := strings.Split(strings.TrimSpace(string(body)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Bad since/until values are API errors before the stream starts.
func TestEventsRequestErrors(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{name: "until before since", query: "since=30&until=20",
			want: "{\"message\":\"`since` time (30) cannot be after `until` time (20)\"}"},
		{name: "bad since", query: "since=yesterday", want: `{"message":"invalid timestamp \"yesterday\": invalid seconds \"yesterday\""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := int64(0)
			e := newFakeEngine()
			e.bus = berthevents.New(berthevents.WithHistory(2), berthevents.WithClock(func() time.Time { return time.Unix(sec, 0) }))
			srv, _ := e.serve(t)
			for _, s := range []int64{10, 20, 30} {
				sec = s
				e.bus.Publish(berthevents.VolumeEventType, berthevents.ActionCreate, fmt.Sprint("v", s), nil)
			}
			resp, err := http.Get(srv.URL + "/v1.47/events?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || strings.TrimSpace(string(body)) != tt.want {
				t.Fatalf("%d %s\nwant 400 %s", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// gatedListener's connections stall their writes while the gate is shut, as a client that stops reading
// stalls the server's writes once the socket buffers are full.
type gatedListener struct {
	net.Listener
	shut    atomic.Bool
	blocked chan struct{} // told when a write stalls
	release chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return gatedConn{c, l}, err
}

type gatedConn struct {
	net.Conn
	l *gatedListener
}

func (c gatedConn) Write(p []byte) (int, error) {
	if c.l.shut.Load() {
		select {
		case c.l.blocked <- struct{}{}:
		default:
		}
		<-c.l.release
	}
	return c.Conn.Write(p)
}

// A client that does not keep up is not dropped silently: its stream carries every event in order up to the
// gap, then a message saying how many events were lost and where to resume, and the connection is cut.
func TestEventsFellBehind(t *testing.T) {
	const history, burst = 8, 20
	tests := []struct {
		name string
		// read reads the stream: the actor IDs of the events received and the message or error that ended it.
		read func(t *testing.T, url string, received chan<- string) (ids []string, end string)
	}{
		{name: "raw stream", read: func(t *testing.T, url string, received chan<- string) ([]string, string) {
			resp, err := http.Get(url + "/v1.47/events?since=1700000000")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var ids []string
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadBytes('\n')
				if err != nil {
					// The last message is followed by a cut connection, not a clean end of the stream.
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("stream ended with %v, want an unexpected EOF", err)
					}
					t.Fatalf("stream ended without the lost-events message after %v", ids)
				}
				var m map[string]any
				if err := json.Unmarshal(line, &m); err != nil {
					t.Fatal(err)
				}
				if m["error"] != nil {
					actor := m["Actor"].(map[string]any)["Attributes"].(map[string]any)
					if m["Type"] != "daemon" || m["Action"] != "error" || m["status"] != m["error"] || actor["error"] != m["error"] {
						t.Errorf("lost-events message %s", line)
					}
					if _, err := br.ReadBytes('\n'); !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("after the lost-events message: %v, want a cut connection", err)
					}
					return ids, m["error"].(string)
				}
				id := m["Actor"].(map[string]any)["ID"].(string)
				ids = append(ids, id)
				received <- id
			}
		}},
		{name: "berth client", read: func(t *testing.T, url string, received chan<- string) ([]string, string) {
			c, err := client.New("tcp://" + strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msgs, errs := c.Events(context.Background(), client.EventsOptions{Since: "1700000000"})
			var ids []string
			for m := range msgs {
				ids = append(ids, m.Actor.ID)
				received <- m.Actor.ID
			}
			return ids, (<-errs).Error()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine()
			var clock atomic.Int64
			clock.Store(1700000000)
			e.bus = berthevents.New(berthevents.WithHistory(history), berthevents.WithClock(func() time.Time { return time.Unix(clock.Load(), 0) }))
			srv := httptest.NewUnstartedServer(New(e.backends()))
			gl := &gatedListener{Listener: srv.Listener, blocked: make(chan struct{}, 1), release: make(chan struct{})}
			srv.Listener = gl
			srv.Start()
			defer srv.Close()

			e.bus.Publish(berthevents.ContainerEventType, berthevents.ActionStart, "1", nil)
			received := make(chan string, burst+2)
			type result struct {
				ids []string
				end string
			}
			done := make(chan result, 1)
			go func() {
				ids, end := tt.read(t, srv.URL, received)
				done <- result{ids, end}
			}()
			// The event published before the request is replayed (since) and goes through; then the client stops
			// reading while a burst overruns the history.
			select {
			case <-received:
			case <-time.After(10 * time.Second):
				t.Fatal("the first event never arrived")
			}
			gl.shut.Store(true)
			clock.Add(1)
			publish := func() {
				e.bus.Publish(berthevents.ContainerEventType, berthevents.ActionStart, fmt.Sprint(e.bus.Rev()+1), nil)
			}
			// The server takes the burst's first event and stalls writing it; the rest overruns the history.
			publish()
			select {
			case <-gl.blocked:
			case <-time.After(10 * time.Second):
				t.Fatal("the server never wrote the burst's first event")
			}
			for range burst - 1 {
				publish()
			}
			first := e.bus.Rev() - burst + 1
			close(gl.release)
			res := <-done
			// What arrived is in order and without a gap; the message counts exactly what did not.
			var last int64
			for _, id := range res.ids {
				var n int64
				fmt.Sscan(id, &n)
				if last != 0 && n != last+1 {
					t.Fatalf("gap in the stream: %v", res.ids)
				}
				last = n
			}
			oldest := e.bus.Rev() - history + 1
			want := fmt.Sprintf("event stream fell behind: the client did not keep up and %d events left the daemon's history before they were sent; resume with --since 1700000001.000000000", oldest-last-1)
			if last != first || res.end != want {
				t.Fatalf("received %v (the burst's first event is %d), ended with %q\nwant %q", res.ids, first, res.end, want)
			}
		})
	}
}
