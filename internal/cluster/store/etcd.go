package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/containerd/errdefs"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrNoLeader is wrapped by every store error caused by the managers' lost quorum: the words are docker's, for
// the same condition in swarmkit's raft.
var ErrNoLeader = errdefs.ErrUnavailable.WithMessage("The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.")

// EtcdBackend is a Backend over an etcd cluster (the managers' embedded members, or an external cluster). It is
// Berth's only etcd client user.
type EtcdBackend struct {
	cli     *clientv3.Client
	timeout time.Duration
	own     bool
}

// EtcdOption configures an EtcdBackend.
type EtcdOption func(*EtcdBackend)

// WithRequestTimeout bounds each request (default 5 s): past it the request fails with ErrNoLeader.
func WithRequestTimeout(d time.Duration) EtcdOption { return func(b *EtcdBackend) { b.timeout = d } }

// WithOwnedClient makes Close close the client too.
func WithOwnedClient() EtcdOption { return func(b *EtcdBackend) { b.own = true } }

// NewEtcdBackend is a backend over cli.
func NewEtcdBackend(cli *clientv3.Client, opts ...EtcdOption) *EtcdBackend {
	b := &EtcdBackend{cli: cli, timeout: 5 * time.Second}
	for _, o := range opts {
		o(b)
	}
	return b
}

var _ Backend = (*EtcdBackend)(nil)

// reqCtx makes a request fail at once when the member it reaches has no leader (a lost quorum), rather than
// wait for etcd's own request timeout, and bounds it.
func (b *EtcdBackend) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(ctx), b.timeout)
}

// mapErr turns etcd's errors into the store's: compaction, and unavailability as ErrNoLeader.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, rpctypes.ErrGRPCCompacted) {
		return fmt.Errorf("%v: %w", err, ErrCompacted)
	}
	if ctx.Err() != nil {
		return ctx.Err() // the caller gave up: not the store's fault
	}
	// The user gets docker's words; the cause goes to the debug log.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrTimeout) {
		slog.Debug("cluster store unavailable", "error", err)
		return ErrNoLeader
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			slog.Debug("cluster store unavailable", "error", err)
			return ErrNoLeader
		}
	}
	return err
}

func fromEtcd(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: kv.Value, CreateRev: kv.CreateRevision, ModRev: kv.ModRevision}
}

// Range implements Backend.
func (b *EtcdBackend) Range(ctx context.Context, key string, prefix bool, rev int64) ([]KV, int64, error) {
	rctx, cancel := b.reqCtx(ctx)
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithRev(rev)}
	if prefix {
		opts = append(opts, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	}
	resp, err := b.cli.Get(rctx, key, opts...)
	if err != nil {
		return nil, 0, mapErr(ctx, err)
	}
	out := make([]KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, fromEtcd(kv))
	}
	if rev == 0 {
		rev = resp.Header.Revision
	}
	return out, rev, nil
}

// Txn implements Backend.
func (b *EtcdBackend) Txn(ctx context.Context, conds []Cond, ops []Op) (bool, int64, error) {
	rctx, cancel := b.reqCtx(ctx)
	defer cancel()
	cmps := make([]clientv3.Cmp, 0, len(conds))
	for _, c := range conds {
		switch c.Kind {
		case ModRevEquals:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c.Key), "=", c.Rev))
		case PrefixUnchangedSince:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c.Key).WithPrefix(), "<", c.Rev+1))
		default:
			return false, 0, fmt.Errorf("unknown condition kind %d", c.Kind)
		}
	}
	eops := make([]clientv3.Op, 0, len(ops))
	for _, op := range ops {
		if op.Delete {
			eops = append(eops, clientv3.OpDelete(op.Key))
		} else {
			eops = append(eops, clientv3.OpPut(op.Key, string(op.Value)))
		}
	}
	resp, err := b.cli.Txn(rctx).If(cmps...).Then(eops...).Commit()
	if err != nil {
		return false, 0, mapErr(ctx, err)
	}
	return resp.Succeeded, resp.Header.Revision, nil
}

// Watch implements Backend.
func (b *EtcdBackend) Watch(ctx context.Context, prefix string, after int64) <-chan WatchResponse {
	out := make(chan WatchResponse, 16)
	go func() {
		defer close(out)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		send := func(r WatchResponse) bool {
			select {
			case out <- r:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range b.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1), clientv3.WithPrevKV()) {
			if resp.CompactRevision != 0 {
				send(WatchResponse{Err: fmt.Errorf("watch from revision %d, oldest held %d: %w", after+1, resp.CompactRevision, ErrCompacted)})
				return
			}
			if err := resp.Err(); err != nil {
				send(WatchResponse{Err: mapErr(ctx, err)})
				return
			}
			if len(resp.Events) == 0 {
				continue
			}
			evs := make([]KVEvent, 0, len(resp.Events))
			for _, e := range resp.Events {
				ev := KVEvent{KV: fromEtcd(e.Kv)}
				if e.Type == clientv3.EventTypeDelete {
					ev.Type = EventDelete
				}
				if e.PrevKv != nil {
					ev.PrevValue = e.PrevKv.Value
				}
				evs = append(evs, ev)
				after = e.Kv.ModRevision
			}
			if !send(WatchResponse{Events: evs}) {
				return
			}
		}
		if ctx.Err() == nil {
			send(WatchResponse{Err: fmt.Errorf("watch ended: %w", ErrNoLeader)})
		}
	}()
	return out
}

// Close implements Backend.
func (b *EtcdBackend) Close() error {
	if b.own {
		return b.cli.Close()
	}
	return nil
}

// Compact drops the history before rev (etcd's compaction).
func (b *EtcdBackend) Compact(ctx context.Context, rev int64) error {
	rctx, cancel := b.reqCtx(ctx)
	defer cancel()
	_, err := b.cli.Compact(rctx, rev, clientv3.WithCompactPhysical())
	return mapErr(ctx, err)
}
