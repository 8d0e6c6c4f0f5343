package events

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berth/berth/internal/filters"
)

func TestMatch(t *testing.T) {
	msg := events.Message{Type: events.ContainerEventType, Action: "exec_start: sh -c true", Scope: "local",
		Actor: events.Actor{ID: "abcdef123456", Attributes: map[string]string{"name": "web-1", "image": "busybox:1.36", "tier": "front"}}}
	tests := []struct {
		name    string
		msg     *events.Message // msg when nil
		filters map[string][]string
		want    bool
	}{
		{name: "no filters", want: true},
		{name: "type", filters: map[string][]string{"type": {"container"}}, want: true},
		{name: "other type", filters: map[string][]string{"type": {"image"}}},
		{name: "event prefix before colon", filters: map[string][]string{"event": {"exec_start"}}, want: true},
		{name: "event prefix only for exec and health events", filters: map[string][]string{"event": {"exec"}}},
		{name: "event exact", msg: &events.Message{Type: events.ContainerEventType, Action: "start"}, filters: map[string][]string{"event": {"start"}}, want: true},
		{name: "event is not a prefix otherwise", msg: &events.Message{Type: events.ContainerEventType, Action: "start"}, filters: map[string][]string{"event": {"sta"}}},
		{name: "container by name", filters: map[string][]string{"container": {"web-1"}}, want: true},
		{name: "container by name prefix", filters: map[string][]string{"container": {"web"}}, want: true},
		{name: "container by id prefix", filters: map[string][]string{"container": {"abc"}}, want: true},
		{name: "container id is a prefix, not a substring", filters: map[string][]string{"container": {"def"}}},
		{name: "other container", filters: map[string][]string{"container": {"db"}}},
		{name: "a network event's actor is the network", msg: &events.Message{Type: events.NetworkEventType, Action: "connect",
			Actor: events.Actor{ID: "f00d", Attributes: map[string]string{"name": "shop", "container": "abcdef123456"}}},
			filters: map[string][]string{"container": {"abc"}}},
		{name: "network by name", msg: &events.Message{Type: events.NetworkEventType, Action: "connect",
			Actor: events.Actor{ID: "f00d", Attributes: map[string]string{"name": "shop"}}},
			filters: map[string][]string{"network": {"shop"}}, want: true},
		{name: "image attribute with tag", filters: map[string][]string{"image": {"busybox:1.36"}}, want: true},
		{name: "image attribute without tag", filters: map[string][]string{"image": {"busybox"}}, want: true},
		{name: "image other tag", filters: map[string][]string{"image": {"busybox:1.37"}}},
		{name: "image event by name", msg: &events.Message{Type: events.ImageEventType, Action: "tag",
			Actor: events.Actor{ID: "sha256:aa", Attributes: map[string]string{"name": "docker.io/library/app:v1"}}},
			filters: map[string][]string{"image": {"app"}}, want: true},
		{name: "scope", filters: map[string][]string{"scope": {"local"}}, want: true},
		{name: "other scope", filters: map[string][]string{"scope": {"swarm"}}},
		{name: "label", filters: map[string][]string{"label": {"tier=front"}}, want: true},
		{name: "label value mismatch", filters: map[string][]string{"label": {"tier=back"}}},
		{name: "values OR, keys AND", filters: map[string][]string{"container": {"db", "web"}, "type": {"container"}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := msg
			if tt.msg != nil {
				m = *tt.msg
			}
			if got := Match(m, filters.FromMap(tt.filters)); got != tt.want {
				t.Fatalf("Match = %v", got)
			}
		})
	}
}

func TestSubscribeReplaysSince(t *testing.T) {
	b := New()
	clock := time.Unix(1000, 0)
	b.now = func() time.Time { return clock }
	b.Publish(events.ContainerEventType, events.ActionCreate, "a", nil)
	clock = time.Unix(2000, 0)
	b.Publish(events.ContainerEventType, events.ActionStart, "a", nil)
	past, ch, cancel := b.Subscribe(time.Unix(1500, 0))
	defer cancel()
	if len(past) != 1 || past[0].Action != events.ActionStart {
		t.Fatalf("replay since 1500: %+v", past)
	}
	b.Publish(events.ContainerEventType, events.ActionDie, "a", map[string]string{"exitCode": "0"})
	select {
	case m := <-ch:
		if m.Action != events.ActionDie || m.Actor.Attributes["exitCode"] != "0" {
			t.Fatalf("live event %+v", m)
		}
	case <-time.After(time.Second):
		t.Fatal("no live event")
	}
	cancel()
	b.Publish(events.ContainerEventType, events.ActionDestroy, "a", nil) // no subscriber left: must not block
}
