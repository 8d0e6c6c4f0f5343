package s3api

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth/berth/internal/cloud/policy"
	"github.com/berth/berth/internal/objectstore"
	"github.com/berth/berth/internal/objectstore/access"
	"github.com/berth/berth/internal/objectstore/lifecycle"
)

// bucketState is what a bucket's configuration documents say, decoded once per change of them: every request
// is authorized against the policy, ACL, ownership and public access block, and may need the CORS rules and the
// lifecycle configuration.
type bucketState struct {
	bucket objectstore.Bucket
	docs   map[string][]byte

	policy       *policy.Policy // nil: no bucket policy
	policyPublic bool
	acl          *access.ACL // nil: private to the owner
	// ownership is the bucket's Object Ownership; ownershipSet is false for a bucket without ownership controls
	// (which behaves as ObjectWriter, as S3 buckets created before Object Ownership do).
	ownership    access.ObjectOwnership
	ownershipSet bool
	block        access.PublicAccessBlock
	blockSet     bool
	cors         *corsConfiguration
	lifecycle    *lifecycle.Configuration
}

// owner is the bucket owner as ACLs name it.
func (st *bucketState) owner() access.Owner {
	return access.Owner{ID: st.bucket.Owner.ID, DisplayName: st.bucket.Owner.DisplayName}
}

// decodeState reads a bucket's documents. A document that no longer reads (it was checked when stored) is
// logged and treated as absent, except a policy, which fails closed: it may have denied something.
func (s *Server) decodeState(b objectstore.Bucket, docs map[string][]byte) *bucketState {
	st := &bucketState{bucket: b, docs: docs, ownership: access.ObjectWriter}
	bad := func(name string, err error) {
		s.log.Error("s3: unreadable bucket configuration", "bucket", b.Name, "config", name, "error", err)
	}
	if doc := docs[objectstore.ConfigPolicy]; doc != nil {
		p, err := policy.Parse(doc, policy.Resource)
		if err != nil {
			bad(objectstore.ConfigPolicy, err)
			p, _ = policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}`), policy.Resource)
		}
		st.policy, st.policyPublic = p, p.IsPublic()
	}
	if doc := docs[objectstore.ConfigACL]; doc != nil {
		if a, err := access.DecodeACL(doc); err != nil {
			bad(objectstore.ConfigACL, err)
		} else {
			st.acl = &a
		}
	}
	if doc := docs[objectstore.ConfigOwnership]; doc != nil {
		if o := access.ObjectOwnership(doc); o.Valid() {
			st.ownership, st.ownershipSet = o, true
		} else {
			bad(objectstore.ConfigOwnership, nil)
		}
	}
	if doc := docs[objectstore.ConfigPublicAccessBlock]; doc != nil {
		if err := json.Unmarshal(doc, &st.block); err != nil {
			bad(objectstore.ConfigPublicAccessBlock, err)
		} else {
			st.blockSet = true
		}
	}
	if doc := docs[objectstore.ConfigCORS]; doc != nil {
		if c, err := parseCORS(doc); err != nil {
			bad(objectstore.ConfigCORS, err)
		} else {
			st.cors = c
		}
	}
	if doc := docs[objectstore.ConfigLifecycle]; doc != nil {
		if c, err := lifecycle.Parse(doc); err != nil {
			bad(objectstore.ConfigLifecycle, err)
		} else {
			st.lifecycle = c
		}
	}
	return st
}

// stateKey identifies a version of a bucket's configuration: a bucket deleted and created again is another.
type stateKey struct {
	name    string
	created time.Time
	version uint64
}

// stateCache remembers decoded bucket states.
type stateCache struct {
	m sync.Map // stateKey -> *bucketState
	n atomic.Int64
}

const maxCachedStates = 10000

// state returns what b's configuration documents say, from the cache while they have not changed.
func (s *Server) state(ctx context.Context, b objectstore.Bucket) (*bucketState, error) {
	key := stateKey{b.Name, b.CreatedAt, b.ConfigVersion}
	if v, ok := s.states.m.Load(key); ok {
		return v.(*bucketState), nil
	}
	cur, docs, err := s.store.BucketConfigs(ctx, b.Name)
	if err != nil {
		return nil, err
	}
	st := s.decodeState(cur, docs)
	if cur.ConfigVersion == b.ConfigVersion && cur.CreatedAt.Equal(b.CreatedAt) {
		if s.states.n.Add(1) > maxCachedStates {
			s.states.m.Clear()
			s.states.n.Store(0)
		}
		s.states.m.Store(key, st)
	}
	return st, nil
}

// policyCache remembers parsed identity policies by their text: a user's policies rarely change, and every one
// of its requests is evaluated against them.
type policyCache struct {
	m sync.Map // string -> *policy.Policy
	n atomic.Int64
}

func (c *policyCache) parse(doc []byte) *policy.Policy {
	if v, ok := c.m.Load(string(doc)); ok {
		return v.(*policy.Policy)
	}
	p, err := policy.Parse(doc, policy.Identity)
	if err != nil {
		p = denyAll // IAM checked it when it was stored; one that no longer reads fails closed
	}
	if c.n.Add(1) > maxCachedStates {
		c.m.Clear()
		c.n.Store(0)
	}
	c.m.Store(string(doc), p)
	return p
}
