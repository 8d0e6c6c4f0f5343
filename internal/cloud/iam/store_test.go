package iam

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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

// credentialsIn reads a root-credentials file's key ID and secret.
func credentialsIn(t *testing.T, dir string) (string, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, RootCredentialsFileName))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`aws_access_key_id = (\S+)\naws_secret_access_key = (\S+)\n`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("credentials file:\n%s", data)
	}
	return m[1], m[2]
}

// TestRootCredentialsAfterACrash: first start commits the first account and its generated root key, then writes
// root-credentials. Whatever stopped it in between, or a file left from an earlier iam.db, the next start leaves a
// root-credentials that holds a working root key of this database, and says so in the log; a file that holds it
// already is not touched.
func TestRootCredentialsAfterACrash(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// crash turns the directory of a completed first start into what the crash left.
		crash func(t *testing.T, dir string)
		// sameKey: the key the first start generated is the one to use (its transaction committed).
		sameKey bool
		log     string
	}{
		{name: "stopped after the commit, before the file was written", sameKey: true, log: "the root credentials file was missing",
			crash: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, RootCredentialsFileName)); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "stopped while the file was being written", sameKey: true, log: "the root credentials file was missing",
			crash: func(t *testing.T, dir string) {
				data, _ := os.ReadFile(filepath.Join(dir, RootCredentialsFileName))
				os.Remove(filepath.Join(dir, RootCredentialsFileName))
				if err := os.WriteFile(filepath.Join(dir, ".tmp-"+RootCredentialsFileName+"-1234"), data[:len(data)/2], 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "iam.db deleted, its root-credentials left", log: "did not hold this iam.db's generated root key",
			crash: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, dbFileName)); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			firstID, firstSecret := credentialsIn(t, dir)
			st.Close()
			tc.crash(t, dir)

			var logs bytes.Buffer
			st, err = Open(dir, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatalf("start after the crash: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			id, secret := credentialsIn(t, dir)
			if tc.sameKey && (id != firstID || secret != firstSecret) {
				t.Errorf("root-credentials holds %s, want the key generated before the crash, %s", id, firstID)
			}
			got, s2, err := st.Lookup(ctx, id)
			if err != nil || s2 != secret || !got.Root() {
				t.Fatalf("the key in root-credentials does not work: %+v %v", got, err)
			}
			if !strings.Contains(logs.String(), tc.log) || strings.Contains(logs.String(), secret) {
				t.Errorf("log:\n%s\nwant %q, and never the secret", logs.String(), tc.log)
			}
			if mode := fileMode(t, filepath.Join(dir, RootCredentialsFileName)); mode != 0o600 {
				t.Errorf("root-credentials mode %o", mode)
			}
			// A start after the repair keeps the file as it is.
			before, _ := os.Stat(filepath.Join(dir, RootCredentialsFileName))
			st.Close()
			st, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := os.Stat(filepath.Join(dir, RootCredentialsFileName))
			if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
				t.Error("root-credentials rewritten although it held the key")
			}
		})
	}
}
