package iam

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenGeneratesRootCredentialsOnce(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	credFile := filepath.Join(dir, RootCredentialsFileName)
	data, err := os.ReadFile(credFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`aws_access_key_id = (AKIA[A-Z2-7]{16})\naws_secret_access_key = (\S{40})\n`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("credentials file:\n%s", data)
	}
	for _, f := range []string{credFile, filepath.Join(dir, keyFileName), filepath.Join(dir, dbFileName)} {
		if mode := fileMode(t, f); mode != 0o600 {
			t.Fatalf("%s mode %o", f, mode)
		}
	}
	id, secret, err := st.Lookup(context.Background(), m[1])
	if err != nil || secret != m[2] || !id.Root() || len(id.AccountID) != 12 || len(id.CanonicalID) != 64 {
		t.Fatalf("lookup: %+v %v", id, err)
	}
	st.Close()

	db, _ := os.ReadFile(filepath.Join(dir, dbFileName))
	if bytes.Contains(db, []byte(m[2])) {
		t.Fatal("the secret is stored in the clear")
	}

	// A second start keeps the account and the key, and writes no new file.
	before, _ := os.Stat(credFile)
	st, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	after, _ := os.Stat(credFile)
	if !before.ModTime().Equal(after.ModTime()) {
		t.Fatal("credentials file rewritten")
	}
	if _, s2, err := st.Lookup(context.Background(), m[1]); err != nil || s2 != m[2] {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestOpenRootCredentialsFromConfig(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := Open(dir, WithRootCredentials("rootkey1", "rootsecret-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, RootCredentialsFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("credentials file written although keys were given: %v", err)
	}
	first, _ := st.FirstAccount(ctx)
	apiKey, err := st.CreateAccessKey(ctx, first.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The operator changes the configured key: the new one works, the old configured one is gone, keys made
	// through the API stay.
	st, err = Open(dir, WithRootCredentials("rootkey2", "rootsecret-2"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, s, err := st.Lookup(ctx, "rootkey2"); err != nil || s != "rootsecret-2" {
		t.Fatalf("new key: %v", err)
	}
	if _, _, err := st.Lookup(ctx, "rootkey1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("old configured key still valid: %v", err)
	}
	if _, _, err := st.Lookup(ctx, apiKey.ID); err != nil {
		t.Fatalf("API-created key lost: %v", err)
	}
}

func TestOpenRefusesBadSetups(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		opts  []Option
		want  string
	}{
		{name: "secret too short", opts: []Option{WithRootCredentials("rootkey", "short")}, want: "8 to 128"},
		{name: "key ID with a slash", opts: []Option{WithRootCredentials("root/key", "long enough secret")}, want: "access key ID"},
		{name: "key file lost", setup: func(t *testing.T, dir string) {
			st, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			os.Remove(filepath.Join(dir, keyFileName))
		}, want: "cannot be decrypted"},
		{name: "key file replaced", setup: func(t *testing.T, dir string) {
			st, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			os.WriteFile(filepath.Join(dir, keyFileName), bytes.Repeat([]byte{7}, 32), 0o600)
		}, want: "does not match"},
		{name: "key file readable by others", setup: func(t *testing.T, dir string) {
			st, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			os.Chmod(filepath.Join(dir, keyFileName), 0o644)
		}, want: "chmod 600"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			st, err := Open(dir, tc.opts...)
			if err == nil {
				st.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestRootCredentialsFromEnv(t *testing.T) {
	t.Setenv(EnvRootAccessKeyID, "id")
	t.Setenv(EnvRootSecretAccessKey, "")
	if _, _, err := RootCredentialsFromEnv(); err == nil {
		t.Fatal("half a key pair accepted")
	}
	t.Setenv(EnvRootSecretAccessKey, "secret")
	if id, s, err := RootCredentialsFromEnv(); err != nil || id != "id" || s != "secret" {
		t.Fatalf("%q %q %v", id, s, err)
	}
}
