package events

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

func TestMatch(t *testing.T) {
	msg := events.Message{Type: events.ContainerEventType, Action: "exec_start: sh -c true",
		Actor: events.Actor{ID: "abcdef123456", Attributes: map[string]string{"name": "web", "image": "busybox", "tier": "front"}}}
	tests := []struct {
		name    string
		filters map[string][]string
		want    bool
	}{
		{name: "no filters", want: true},
		{name: "type", filters: map[string][]string{"type": {"container"}}, want: true},
		{name: "other type", filters: map[string][]string{"type": {"image"}}},
		{name: "event prefix before colon", filters: map[string][]string{"event": {"exec_start"}}, want: true},
		{name: "container by name", filters: map[string][]string{"container": {"web"}}, want: true},
		{name: "container by id prefix", filters: map[string][]string{"container": {"abc"}}, want: true},
		{name: "other container", filters: map[string][]string{"container": {"db"}}},
		{name: "image attribute", filters: map[string][]string{"image": {"busybox"}}, want: true},
		{name: "label", filters: map[string][]string{"label": {"tier=front"}}, want: true},
		{name: "label value mismatch", filters: map[string][]string{"label": {"tier=back"}}},
		{name: "values OR, keys AND", filters: map[string][]string{"container": {"db", "web"}, "type": {"container"}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(msg, tt.filters); got != tt.want {
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
