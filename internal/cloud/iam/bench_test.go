package iam

import (
	"context"
	"testing"
)

// BenchmarkLookup measures resolving a user's access key (a bbolt read, an AES-GCM open, the user's policies):
// the store's share of every authenticated request.
func BenchmarkLookup(b *testing.B) {
	st, err := Open(b.TempDir(), WithRootCredentials(rootKey, rootSecret))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	acct, _ := st.FirstAccount(ctx)
	if _, err := st.CreateUser(ctx, acct.ID, "u", "/"); err != nil {
		b.Fatal(err)
	}
	if err := st.AttachUserPolicy(ctx, acct.ID, "u", "arn:aws:iam::aws:policy/AmazonS3FullAccess"); err != nil {
		b.Fatal(err)
	}
	k, err := st.CreateAccessKey(ctx, acct.ID, "u")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := st.Lookup(ctx, k.ID); err != nil {
			b.Fatal(err)
		}
	}
}
