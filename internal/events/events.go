// Package events is the daemon's event bus: services publish container, image and volume events, and API clients
// subscribe with docker's filters, replaying recent history for --since.
package events

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// historySize bounds how many past events are kept for --since replays.
const historySize = 1024

// Bus fans events out to subscribers. The zero value is not usable; call New.
type Bus struct {
	mu      sync.Mutex
	history []events.Message
	subs    map[chan events.Message]struct{}
	now     func() time.Time
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: make(map[chan events.Message]struct{}), now: time.Now}
}

// Publish records an event and delivers it to every subscriber. A subscriber that does not keep up loses events
// rather than stalling the daemon.
func (b *Bus) Publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	t := b.now()
	msg := events.Message{
		Type:     typ,
		Action:   action,
		Actor:    events.Actor{ID: id, Attributes: attrs},
		Scope:    "local",
		Time:     t.Unix(),
		TimeNano: t.UnixNano(),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.history = append(b.history, msg)
	if len(b.history) > historySize {
		b.history = append([]events.Message(nil), b.history[len(b.history)-historySize:]...)
	}
	for ch := range b.subs {
		select {
		case ch <- msg:
		default:
		}
	}
}

// Subscribe returns the events published at or after since (zero: none of the past) and a channel of new ones.
// Call the returned function to unsubscribe.
func (b *Bus) Subscribe(since time.Time) ([]events.Message, <-chan events.Message, func()) {
	ch := make(chan events.Message, 256)
	b.mu.Lock()
	var past []events.Message
	if !since.IsZero() {
		for _, m := range b.history {
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return past, ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Match reports whether msg passes docker's event filters (type, event/action, container, image, volume, label).
// Values of one key are ORed; keys are ANDed.
func Match(msg events.Message, filters map[string][]string) bool {
	anyOf := func(key string, ok func(string) bool) bool {
		vals, set := filters[key]
		if !set || len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if ok(v) {
				return true
			}
		}
		return false
	}
	attrs := msg.Actor.Attributes
	idOrName := func(v string) bool {
		return v == msg.Actor.ID || (len(v) >= 1 && len(v) <= len(msg.Actor.ID) && msg.Actor.ID[:len(v)] == v) || v == attrs["name"]
	}
	return anyOf("type", func(v string) bool { return v == string(msg.Type) }) &&
		anyOf("event", func(v string) bool { return v == string(msg.Action) || hasPrefixColon(string(msg.Action), v) }) &&
		anyOf("container", func(v string) bool { return msg.Type == events.ContainerEventType && idOrName(v) }) &&
		anyOf("image", func(v string) bool {
			return (msg.Type == events.ImageEventType && idOrName(v)) || attrs["image"] == v
		}) &&
		anyOf("volume", func(v string) bool { return msg.Type == events.VolumeEventType && msg.Actor.ID == v }) &&
		anyOf("label", func(v string) bool {
			for k, val := range attrs {
				if v == k || v == k+"="+val {
					return true
				}
			}
			return false
		})
}

// hasPrefixColon matches "exec_start" against an action like "exec_start: sh -c ...".
func hasPrefixColon(action, v string) bool {
	return len(action) > len(v) && action[:len(v)] == v && action[len(v)] == ':'
}
