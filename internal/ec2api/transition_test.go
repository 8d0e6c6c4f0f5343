package ec2api

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// blockingBackend stops as the engine does: the instance is "stopping" at once, and Stop returns only when the
// guest has powered off (here: when the test releases it).
type blockingBackend struct {
	*fakeBackend
	release  chan struct{}
	finished atomic.Bool
	failStop error
}

func (b *blockingBackend) Stop(ctx context.Context, id string, force bool, timeout time.Duration) error {
	if b.failStop != nil {
		return b.failStop
	}
	if err := b.fakeBackend.Stop(ctx, id, force, timeout); err != nil {
		return err
	}
	select {
	case <-b.release:
	case <-ctx.Done(): // the API runs it detached from the request: a client going away does not cancel it
		return ctx.Err()
	}
	b.finished.Store(true)
	return nil
}

// TestStopOutlivesTheRequest: StopInstances answers "stopping" without waiting for the guest, the stop goes on
// after the answer (and after the client is gone), and Close waits for it.
func TestStopOutlivesTheRequest(t *testing.T) {
	e := newEnv(t, WithSettle(20*time.Millisecond))
	bb := &blockingBackend{fakeBackend: e.backend, release: make(chan struct{})}
	e.svc.b = bb
	ctx := context.Background()
	c := e.root()
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(debianAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	reqCtx, cancel := context.WithCancel(ctx)
	out, err := c.StopInstances(reqCtx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if cur := out.StoppingInstances[0].CurrentState.Name; cur != types.InstanceStateNameStopping || bb.finished.Load() {
		t.Fatalf("answered %s, finished %v", cur, bb.finished.Load())
	}
	close(bb.release)
	e.svc.Close()
	if !bb.finished.Load() {
		t.Fatal("Close returned before the stop it started finished")
	}

}

// TestStopErrorIsTheAnswer: a backend that fails within the settle time (here: a minute, so the failure surely
// comes first) fails the request with its error.
func TestStopErrorIsTheAnswer(t *testing.T) {
	e := newEnv(t, WithSettle(time.Minute))
	ctx := context.Background()
	inst, _, err := e.backend.Run(ctx, RunOptions{ImageID: debianImage.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.b = &blockingBackend{fakeBackend: e.backend, failStop: Errorf(CodeIncorrectInstanceState, "The instance is busy.")}
	_, err = e.root().StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{inst.ID}})
	if apiCode(err) != "IncorrectInstanceState" {
		t.Fatalf("backend error: %v", err)
	}
}
