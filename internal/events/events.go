// Package events is the daemon's event bus: services publish container, image and volume events, and API clients
// subscribe with docker's filters, replaying recent history for --since.
package events

import (
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"

	"github.com/berth/berth/internal/filters"
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

// Match reports whether msg passes docker's event filters, with Docker's semantics: type, scope and event
// exact (event a prefix when a value is health_status, exec_create or exec_start, whose actions carry a
// suffix); container, network, volume, daemon, plugin, node, service, secret and config an ID or name prefix of
// the event's actor, whatever its type; image the actor or its image attribute, with or without tag; label the
// actor's attributes. Values of one key are ORed; keys are ANDed.
func Match(msg events.Message, f filters.Args) bool {
	attrs := msg.Actor.Attributes
	actor := func(key string) bool { return f.FuzzyMatch(key, msg.Actor.ID) || f.FuzzyMatch(key, attrs["name"]) }
	event := f.ExactMatch("event", string(msg.Action))
	for _, v := range f.Get("event") {
		if v == "health_status" || v == "exec_create" || v == "exec_start" {
			event = f.FuzzyMatch("event", string(msg.Action))
			break
		}
	}
	return event &&
		f.ExactMatch("type", string(msg.Type)) &&
		f.ExactMatch("scope", msg.Scope) &&
		actor("daemon") && actor("container") && actor("plugin") && actor("volume") && actor("network") &&
		actor("service") && actor("node") && actor("secret") && actor("config") &&
		matchImage(msg, f) &&
		f.MatchKVList("label", attrs)
}

// matchImage is the image filter: an image event's actor, or a container event's image, by ID or by name with
// or without its tag.
func matchImage(msg events.Message, f filters.Args) bool {
	name := msg.Actor.Attributes["image"]
	if msg.Type == events.ImageEventType {
		name = msg.Actor.Attributes["name"]
	}
	return f.ExactMatch("image", msg.Actor.ID) || f.ExactMatch("image", name) ||
		f.ExactMatch("image", stripTag(msg.Actor.ID)) || f.ExactMatch("image", stripTag(name))
}

// stripTag is image's familiar name without tag or digest ("busybox" for "docker.io/library/busybox:1.36").
func stripTag(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(ref)
}
