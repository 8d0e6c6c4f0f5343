package api

import (
	"crypto/rand"
	"math/big"
	"time"
)

// Kind names a kind of stored object; it is also the object's key prefix in the store.
type Kind string

// The kinds of cluster objects.
const (
	KindCluster Kind = "clusters"
	KindNode    Kind = "nodes"
	KindService Kind = "services"
	KindTask    Kind = "tasks"
	KindSecret  Kind = "secrets"
	KindConfig  Kind = "configs"
	KindNetwork Kind = "networks"
)

// Kinds are all kinds, in the order a snapshot lists them.
var Kinds = []Kind{KindCluster, KindNode, KindService, KindTask, KindSecret, KindConfig, KindNetwork, KindAttachment, KindNetworkNode}

// Meta is what every stored object carries besides its ID and content.
type Meta struct {
	// Version is the store revision of the object's last change. The store sets it on every read and write; it
	// is not part of the stored value.
	Version   uint64    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Object is a stored object. The store keeps objects as JSON under <kind>/<id>.
type Object interface {
	Kind() Kind
	GetID() string
	GetMeta() *Meta
}

// Named is an object whose name is unique among the objects of its kind (services, secrets, configs,
// networks); the store keeps an index of names and refuses a second object of the same name.
type Named interface {
	Object
	GetName() string
}

// NewID returns a new random object ID: 128 random bits in base 36, 25 characters, as swarmkit's identity.NewID.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	s := new(big.Int).SetBytes(b[:]).Text(36)
	for len(s) < 25 {
		s = "0" + s
	}
	return s
}

// Annotations are an object's name and labels.
type Annotations struct {
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}
