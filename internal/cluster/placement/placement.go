// Package placement is the vocabulary the cluster's scheduler and orchestrator share about where a task may run:
// what a node offers (its ID, hostname, role, availability, status, labels, platform and resources) and what a
// task asks (constraints in docker's syntax, spread preferences, platforms, a maximum of replicas per node,
// reserved resources), with docker's rules for reading them. It imports nothing of Berth's: the cores take
// placement.Node values that the cluster's shell converts from its own node objects.
//
// A constraint's life, as swarmkit's manager/constraint has it:
//
//	cs, err := placement.Parse([]string{"node.role==manager", "node.labels.zone!=b"}) // docker's words on error
//	ok := placement.Match(cs, &node)                                                  // every constraint holds
//
// Parse is what service create and update check a spec with; a constraint on a key docker does not know
// ("foo==bar") parses, and no node satisfies it.
package placement

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
)

// Role is a node's role in the swarm.
type Role string

// The roles, as docker's API spells them.
const (
	RoleWorker  Role = "worker"
	RoleManager Role = "manager"
)

// Availability is what an operator set a node to take (`docker node update --availability`).
type Availability string

// The availabilities, as docker's API spells them.
const (
	// AvailabilityActive: the node takes new tasks.
	AvailabilityActive Availability = "active"
	// AvailabilityPause: the node keeps its tasks and takes no new ones.
	AvailabilityPause Availability = "pause"
	// AvailabilityDrain: the node's tasks move elsewhere and it takes no new ones.
	AvailabilityDrain Availability = "drain"
)

// NodeState is a node's status as the managers see it (STATUS in `docker node ls`).
type NodeState string

// The node states, as docker's API spells them.
const (
	NodeStateUnknown      NodeState = "unknown"
	NodeStateDown         NodeState = "down"
	NodeStateReady        NodeState = "ready"
	NodeStateDisconnected NodeState = "disconnected"
)

// Platform is an operating system and an architecture, as an image or a node declares them.
type Platform struct {
	OS           string
	Architecture string
}

// Resources are CPUs (in billionths of a CPU, docker's NanoCPUs) and memory in bytes: what a node has, or what a
// task reserves (`--reserve-cpu`, `--reserve-memory`).
type Resources struct {
	NanoCPUs    int64
	MemoryBytes int64
}

// IsZero reports whether r reserves nothing.
func (r Resources) IsZero() bool { return r.NanoCPUs == 0 && r.MemoryBytes == 0 }

// Node is a node as placement sees it.
type Node struct {
	ID       string
	Hostname string
	Role     Role
	// Availability is the operator's choice; Active when empty.
	Availability Availability
	// State is the node's status; a node is only given new tasks when Ready.
	State NodeState
	// Addr is the node's address (node.ip constraints).
	Addr string
	// Labels are the node's labels (`node update --label-add`): node.labels.* constraints and spread preferences.
	Labels map[string]string
	// EngineLabels are the labels of the node's engine (daemon --label): engine.labels.*.
	EngineLabels map[string]string
	Platform     Platform
	// Resources are what the node offers in all; the tasks on it reserve parts of them.
	Resources Resources
}

// Usable reports whether a node may be given new tasks: ready and active.
func (n *Node) Usable() bool {
	return n.State == NodeStateReady && (n.Availability == AvailabilityActive || n.Availability == "")
}

// Placement is what a task asks of its node (docker's Placement).
type Placement struct {
	// Constraints are expressions in docker's syntax (`--constraint`): all must hold.
	Constraints []string
	// Preferences spread a service's tasks over the values of node attributes, in order (`--placement-pref`).
	Preferences []Preference
	// MaxReplicas caps the service's tasks on one node (`--replicas-max-per-node`); 0 for no cap.
	MaxReplicas uint64
	// Platforms are those the task's image runs on; empty for any.
	Platforms []Platform
}

// Preference is one placement preference. Spread is its descriptor (`--placement-pref spread=node.labels.zone`
// gives "node.labels.zone"): node.labels.* and engine.labels.* are understood, others are ignored, as swarmkit
// ignores them.
type Preference struct {
	Spread string
}

// The prefixes of label constraints and spread descriptors.
const (
	NodeLabelPrefix   = "node.labels."
	EngineLabelPrefix = "engine.labels."
)

var (
	// keyPattern and valuePattern are swarmkit's: a value may not hold an operator, present or future.
	keyPattern   = regexp.MustCompile(`^(?i)[a-z_][a-z0-9\-_.]+$`)
	valuePattern = regexp.MustCompile(`^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$`)
)

type operator uint8

const (
	opEqual operator = iota
	opNotEqual
)

var operators = [...]string{"==", "!="}

type keyKind uint8

const (
	keyUnknown keyKind = iota
	keyID
	keyHostname
	keyIP
	keyRole
	keyOS
	keyArch
	keyNodeLabel
	keyEngineLabel
)

// Constraint is one parsed constraint expression.
type Constraint struct {
	key   string
	kind  keyKind
	label string // the label's name for node.labels.* and engine.labels.* (case-sensitive, as docker)
	op    operator
	value string
	// ip and prefix hold a node.ip constraint's address or subnet; ipKind says which one parsed.
	ip       netip.Addr
	prefix   netip.Prefix
	ipKind   uint8 // 0 malformed, 1 address, 2 subnet
	original string
}

// String returns the expression as it was written.
func (c Constraint) String() string { return c.original }

// Parse parses constraint expressions "key==value" and "key!=value" with docker's rules and words: an error is
// errdefs.ErrInvalidArgument with swarmkit's message ("constraint expected one operator from ==, !=",
// "key 'x y' is invalid", "value 'a=b' is invalid").
func Parse(exprs []string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(exprs))
	for _, e := range exprs {
		c, err := parseOne(e)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseOne(e string) (Constraint, error) {
	for i, op := range operators {
		key, value, found := strings.Cut(e, op)
		if !found {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !keyPattern.MatchString(key) {
			return Constraint{}, invalid("key '%s' is invalid", key)
		}
		if !valuePattern.MatchString(value) {
			return Constraint{}, invalid("value '%s' is invalid", value)
		}
		c := Constraint{key: key, op: operator(i), value: value, original: e}
		c.kind, c.label = classify(key)
		if c.kind == keyIP {
			if ip, err := netip.ParseAddr(value); err == nil {
				c.ip, c.ipKind = ip.Unmap(), 1
			} else if p, err := netip.ParsePrefix(value); err == nil {
				c.prefix, c.ipKind = p.Masked(), 2
			}
		}
		return c, nil
	}
	return Constraint{}, invalid("constraint expected one operator from %s", strings.Join(operators[:], ", "))
}

func invalid(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// classify reads a constraint's key as swarmkit does: the attribute names are case-insensitive, a label's name
// is not.
func classify(key string) (keyKind, string) {
	switch {
	case strings.EqualFold(key, "node.id"):
		return keyID, ""
	case strings.EqualFold(key, "node.hostname"):
		return keyHostname, ""
	case strings.EqualFold(key, "node.ip"):
		return keyIP, ""
	case strings.EqualFold(key, "node.role"):
		return keyRole, ""
	case strings.EqualFold(key, "node.platform.os"):
		return keyOS, ""
	case strings.EqualFold(key, "node.platform.arch"):
		return keyArch, ""
	case hasPrefixFold(key, NodeLabelPrefix):
		return keyNodeLabel, key[len(NodeLabelPrefix):]
	case hasPrefixFold(key, EngineLabelPrefix):
		return keyEngineLabel, key[len(EngineLabelPrefix):]
	}
	return keyUnknown, ""
}

// hasPrefixFold reports whether s starts with prefix, ignoring case, and has more after it.
func hasPrefixFold(s, prefix string) bool {
	return len(s) > len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Match reports whether node n satisfies every constraint of cs. Values compare without regard to case; a
// missing attribute or label reads as "" (so "!=" holds and "==" does not); a key docker does not know holds on
// no node.
func Match(cs []Constraint, n *Node) bool {
	for i := range cs {
		if !cs[i].Matches(n) {
			return false
		}
	}
	return true
}

// Matches reports whether node n satisfies c.
func (c *Constraint) Matches(n *Node) bool {
	var what string
	switch c.kind {
	case keyID:
		what = n.ID
	case keyHostname:
		what = n.Hostname
	case keyRole:
		what = string(n.Role)
	case keyOS:
		what = n.Platform.OS
	case keyArch:
		what = n.Platform.Architecture
	case keyNodeLabel:
		what = n.Labels[c.label]
	case keyEngineLabel:
		what = n.EngineLabels[c.label]
	case keyIP:
		return c.matchIP(n.Addr)
	default:
		return false
	}
	equal := strings.EqualFold(c.value, what)
	return equal == (c.op == opEqual)
}

func (c *Constraint) matchIP(addr string) bool {
	var in bool
	switch c.ipKind {
	case 1:
		ip, err := netip.ParseAddr(addr)
		in = err == nil && ip.Unmap() == c.ip
	case 2:
		ip, err := netip.ParseAddr(addr)
		in = err == nil && c.prefix.Contains(ip.Unmap())
	default:
		return false // a malformed address or subnet holds on no node
	}
	return in == (c.op == opEqual)
}

// SpreadValue returns the value a spread descriptor reads on node n ("" when the node lacks the label), and false
// when the descriptor is not one swarmkit spreads over (such a preference is ignored).
func SpreadValue(descriptor string, n *Node) (string, bool) {
	switch {
	case hasPrefixFold(descriptor, NodeLabelPrefix):
		return n.Labels[descriptor[len(NodeLabelPrefix):]], true
	case hasPrefixFold(descriptor, EngineLabelPrefix):
		return n.EngineLabels[descriptor[len(EngineLabelPrefix):]], true
	}
	return "", false
}

// PlatformMatch reports whether a node's platform is one of those a task's image supports: an empty OS or
// architecture in want matches any, and x86_64 and aarch64 are amd64 and arm64. No platforms match every node.
func PlatformMatch(want []Platform, node Platform) bool {
	if len(want) == 0 {
		return true
	}
	arch := normalArch(node.Architecture)
	for _, p := range want {
		if (p.Architecture == "" || normalArch(p.Architecture) == arch) && (p.OS == "" || p.OS == node.OS) {
			return true
		}
	}
	return false
}

func normalArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}
