// Package iam owns Berth's accounts, IAM users, access keys and identity policies, and serves them over AWS's
// IAM and STS query APIs on the cloud endpoint. Its Store is the endpoint's cloud.Credentials: it resolves an
// access key ID to the identity it belongs to (with the policies that apply to it) and its secret.
//
// State lives in one bbolt database (iam.db) in the data directory; secret access keys are sealed with
// AES-256-GCM under a key kept in iam.key beside it (mode 0600, created on first start). Every write is a bbolt
// transaction, fsynced before the caller is answered.
//
// Lifecycle:
//
//	st, err := iam.Open(dir, iam.WithRootCredentials(id, secret))  // first start: the first account and its root key
//	ep := cloud.NewEndpoint(st)                                     // the endpoint resolves keys through st
//	ep.Register("iam", iam.NewIAMService(st))                      // CreateUser, CreateAccessKey, … as AWS IAM
//	ep.Register("sts", iam.NewSTSService(st))                      // GetCallerIdentity
//	defer st.Close()
package iam

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/policy"
)

const (
	dbFileName = "iam.db"
	// RootCredentialsFileName is the file (in the data directory, mode 0600) that holds generated root keys, in the
	// AWS shared credentials format.
	RootCredentialsFileName = "root-credentials"
	// EnvRootAccessKeyID and EnvRootSecretAccessKey name the environment variables that set the first account's
	// root keys.
	EnvRootAccessKeyID     = "BERTH_ROOT_ACCESS_KEY_ID"
	EnvRootSecretAccessKey = "BERTH_ROOT_SECRET_ACCESS_KEY"

	maxKeysPerUser     = 2
	maxAttachedPerUser = 10
	maxInlinePolicy    = 2048
)

var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketUsers    = []byte("users")
	bucketKeys     = []byte("keys")

	metaFirstAccount = []byte("first-account")
	metaKeyCheck     = []byte("key-check")
)

// Account is a tenant: its root user owns everything in it.
type Account struct {
	ID          string    `json:"id"`           // 12 digits
	CanonicalID string    `json:"canonical_id"` // 64 hex digits (S3's owner ID)
	Name        string    `json:"name"`
	Created     time.Time `json:"created"`
}

// RootARN is the ARN of the account's root user.
func (a Account) RootARN() string { return "arn:aws:iam::" + a.ID + ":root" }

// User is an IAM user of an account.
type User struct {
	AccountID string    `json:"account_id"`
	Name      string    `json:"name"`
	ID        string    `json:"id"` // AIDA…
	Path      string    `json:"path"`
	Created   time.Time `json:"created"`
	// Inline maps policy names to documents (PutUserPolicy).
	Inline map[string]string `json:"inline,omitempty"`
	// Attached lists the ARNs of attached managed policies, in attachment order.
	Attached []string `json:"attached,omitempty"`
}

// ARN is the user's ARN.
func (u User) ARN() string { return "arn:aws:iam::" + u.AccountID + ":user" + u.Path + u.Name }

// AccessKey is an access key of an account's root (UserName "") or of one of its users.
type AccessKey struct {
	ID        string
	AccountID string
	UserName  string
	Status    string // "Active" or "Inactive"
	Created   time.Time
	// Secret is set only when the key is created: it is shown once.
	Secret string
}

type keyRecord struct {
	ID         string    `json:"id"`
	AccountID  string    `json:"account_id"`
	UserName   string    `json:"user_name,omitempty"`
	Status     string    `json:"status"`
	Created    time.Time `json:"created"`
	Sealed     []byte    `json:"sealed_secret"`
	FromConfig bool      `json:"from_config,omitempty"` // root keys set by environment or config, replaced when it changes
	// Generated marks the root key made on first start, whose secret root-credentials holds.
	Generated bool `json:"generated,omitempty"`
}

// Option configures a Store.
type Option func(*Store)

// WithRootCredentials sets the first account's root access key (from the environment or config). When it
// changes between starts, the new key replaces the one given before; keys created through the API stay.
func WithRootCredentials(accessKeyID, secret string) Option {
	return func(s *Store) { s.rootID, s.rootSecret = accessKeyID, secret }
}

// WithAccountName names the first account (default "berth"), on first start only.
func WithAccountName(name string) Option { return func(s *Store) { s.firstName = name } }

// WithLogger sets the logger; secrets are never logged.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithClock sets the clock that stamps creation times (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Store is the IAM state: accounts, users, access keys and their policies.
type Store struct {
	db     *bolt.DB
	seal   *sealer
	dir    string
	log    *slog.Logger
	now    func() time.Time
	rootID string

	rootSecret string
	firstName  string

	// cache holds resolved keys (identity and secret) between writes: every authenticated request looks its key
	// up, and a bbolt read, three JSON records and an AES-GCM open cost ~10 µs. Every write empties it.
	cacheMu sync.RWMutex
	cache   map[string]cachedLookup
	gen     uint64 // counts writes, so a lookup that raced one does not cache what it read before it
}

type cachedLookup struct {
	id     cloud.Identity
	secret string
}

// update runs a write transaction (fsynced on commit) and forgets every cached lookup.
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	err := s.db.Update(fn)
	s.cacheMu.Lock()
	s.cache = nil
	s.gen++
	s.cacheMu.Unlock()
	return err
}

var _ cloud.Credentials = (*Store)(nil)

// RootCredentialsFromEnv returns the root keys named by BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY,
// and an error when only one of them is set.
func RootCredentialsFromEnv() (id, secret string, err error) {
	id, secret = os.Getenv(EnvRootAccessKeyID), os.Getenv(EnvRootSecretAccessKey)
	if (id == "") != (secret == "") {
		return "", "", fmt.Errorf("%s and %s go together: %w", EnvRootAccessKeyID, EnvRootSecretAccessKey, errdefs.ErrInvalidArgument)
	}
	return id, secret, nil
}

// Open opens (creating on first start) the IAM store in dir. On first start it creates the first account and its
// root key: the one WithRootCredentials gives, or a generated one written to dir/root-credentials (mode 0600).
func Open(dir string, opts ...Option) (*Store, error) {
	s := &Store{dir: dir, log: slog.Default(), now: time.Now, firstName: "berth"}
	for _, o := range opts {
		o(s)
	}
	if s.rootID != "" || s.rootSecret != "" {
		if err := validateRootCredentials(s.rootID, s.rootSecret); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, dbFileName)
	_, statErr := os.Stat(dbPath)
	fresh := errors.Is(statErr, os.ErrNotExist)
	key, err := loadOrCreateKey(dir, fresh)
	if err != nil {
		return nil, err
	}
	if s.seal, err = newSealer(key); err != nil {
		return nil, err
	}
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dbPath, err)
	}
	s.db = db
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

var keyIDPattern = regexp.MustCompile(`^[\w.-]{3,128}$`)

func validateRootCredentials(id, secret string) error {
	if !keyIDPattern.MatchString(id) {
		return fmt.Errorf("root access key ID must be 3 to 128 letters, digits, '_', '.' or '-': %w", errdefs.ErrInvalidArgument)
	}
	if len(secret) < 8 || len(secret) > 128 || strings.ContainsAny(secret, " \t\r\n") {
		return fmt.Errorf("root secret access key must be 8 to 128 characters without spaces: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// init creates the buckets, checks the sealing key against the database, and sets up the first account.
func (s *Store) init() error {
	var generated *AccessKey
	err := s.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketUsers, bucketKeys} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if check := meta.Get(metaKeyCheck); check != nil {
			if _, err := s.seal.open(check, "key-check"); err != nil {
				return fmt.Errorf("%s does not match %s: %w", keyFileName, dbFileName, err)
			}
		} else {
			sealed, err := s.seal.seal("berth-iam", "key-check")
			if err != nil {
				return err
			}
			if err := meta.Put(metaKeyCheck, sealed); err != nil {
				return err
			}
		}
		first := meta.Get(metaFirstAccount)
		var acct Account
		if first == nil {
			var err error
			if acct, err = s.createAccountTx(tx, s.firstName); err != nil {
				return err
			}
			if err := meta.Put(metaFirstAccount, []byte(acct.ID)); err != nil {
				return err
			}
			if s.rootID == "" {
				k, err := s.createKeyTx(tx, acct.ID, "", false)
				if err != nil {
					return err
				}
				var rec keyRecord
				if err := getJSON(tx.Bucket(bucketKeys), k.ID, &rec); err != nil {
					return err
				}
				rec.Generated = true
				if err := putJSON(tx.Bucket(bucketKeys), k.ID, rec); err != nil {
					return err
				}
				generated = &k
			}
		} else if err := getJSON(tx.Bucket(bucketAccounts), string(first), &acct); err != nil {
			return err
		}
		if s.rootID != "" {
			return s.ensureConfigRootKey(tx, acct.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.syncRootCredentials(generated != nil)
}

// syncRootCredentials makes root-credentials hold the generated root key, written after the transaction that made
// the key committed. Whatever came between (Berth stopped before writing the file; a file left from an earlier
// iam.db, which the new one's first start could not replace) is repaired here, on the next start: the key's
// secret is in iam.db, sealed under iam.key, so a missing or stale file is written again (atomically) and said so
// in the log. With no generated key (root keys from the environment, or the generated one deactivated or deleted)
// the file is left alone.
func (s *Store) syncRootCredentials(justGenerated bool) error {
	k, ok, err := s.generatedRootKey()
	if err != nil || !ok {
		return err
	}
	path := filepath.Join(s.dir, RootCredentialsFileName)
	want := []byte("[default]\naws_access_key_id = " + k.ID + "\naws_secret_access_key = " + k.Secret + "\n")
	have, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(have, want):
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("reading the root credentials: %w", err)
	}
	if err := atomicfile.WriteFile(path, want, 0o600); err != nil {
		return fmt.Errorf("writing the generated root credentials: %w", err)
	}
	switch {
	case justGenerated && have == nil:
		s.log.Info("generated the root account's access key; its secret is in the credentials file (mode 0600), "+
			"usable as AWS_SHARED_CREDENTIALS_FILE", "access_key_id", k.ID, "file", path)
	case have == nil:
		s.log.Warn("the root credentials file was missing (Berth stopped before writing it, or it was removed): "+
			"wrote the generated root key to it again from "+dbFileName, "access_key_id", k.ID, "file", path)
	default:
		s.log.Warn("the root credentials file did not hold this "+dbFileName+"'s generated root key (it was left from "+
			"an earlier "+dbFileName+", or edited): replaced it", "previous_access_key_id", credentialsKeyID(have),
			"access_key_id", k.ID, "file", path)
	}
	return nil
}

// credentialsKeyID is the access key ID a credentials file names ("" when none).
func credentialsKeyID(file []byte) string {
	for _, line := range strings.Split(string(file), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "aws_access_key_id" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// generatedRootKey returns the first account's active generated root key with its secret. A database from before
// keys were marked has its generated key told apart as the root key made with the account (not from config).
func (s *Store) generatedRootKey() (AccessKey, bool, error) {
	var k AccessKey
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		first := tx.Bucket(bucketMeta).Get(metaFirstAccount)
		if first == nil {
			return nil
		}
		var acct Account
		if err := getJSON(tx.Bucket(bucketAccounts), string(first), &acct); err != nil {
			return err
		}
		var marked, legacy []keyRecord
		err := tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			var r keyRecord
			if json.Unmarshal(v, &r) != nil || r.AccountID != acct.ID || r.UserName != "" || r.FromConfig {
				return nil
			}
			if r.Generated {
				marked = append(marked, r)
			} else if d := r.Created.Sub(acct.Created); d > -2*time.Second && d < 2*time.Second {
				legacy = append(legacy, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var rec keyRecord
		switch {
		case len(marked) == 1:
			rec = marked[0]
		case len(marked) == 0 && len(legacy) == 1:
			rec = legacy[0]
		default:
			return nil
		}
		if rec.Status != "Active" {
			return nil
		}
		secret, err := s.seal.open(rec.Sealed, rec.ID)
		if err != nil {
			return err
		}
		k = AccessKey{ID: rec.ID, AccountID: rec.AccountID, Status: rec.Status, Created: rec.Created, Secret: secret}
		found = true
		return nil
	})
	return k, found, err
}

// ensureConfigRootKey makes the configured key a root key of account, replacing earlier configured ones.
func (s *Store) ensureConfigRootKey(tx *bolt.Tx, account string) error {
	keys := tx.Bucket(bucketKeys)
	var rec keyRecord
	if err := getJSON(keys, s.rootID, &rec); err == nil {
		if rec.AccountID != account || rec.UserName != "" {
			return fmt.Errorf("access key %s already belongs to another user: %w", s.rootID, errdefs.ErrAlreadyExists)
		}
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	var stale [][]byte
	_ = keys.ForEach(func(k, v []byte) error {
		var r keyRecord
		if json.Unmarshal(v, &r) == nil && r.FromConfig && r.ID != s.rootID {
			stale = append(stale, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range stale {
		if err := keys.Delete(k); err != nil {
			return err
		}
		s.log.Info("removed the root access key of the previous configuration", "access_key_id", string(k))
	}
	sealed, err := s.seal.seal(s.rootSecret, s.rootID)
	if err != nil {
		return err
	}
	created := rec.Created
	if created.IsZero() {
		created = s.now().UTC()
	}
	return putJSON(keys, s.rootID, keyRecord{ID: s.rootID, AccountID: account, Status: "Active", Created: created, Sealed: sealed, FromConfig: true})
}

// Lookup implements cloud.Credentials. The identity's Policies are shared between callers: read them, never
// modify them.
func (s *Store) Lookup(ctx context.Context, accessKeyID string) (cloud.Identity, string, error) {
	s.cacheMu.RLock()
	c, ok := s.cache[accessKeyID]
	gen := s.gen
	s.cacheMu.RUnlock()
	if ok {
		return c.id, c.secret, nil
	}
	id, secret, err := s.lookup(accessKeyID)
	if err != nil {
		return id, secret, err
	}
	s.cacheMu.Lock()
	if s.gen != gen {
		s.cacheMu.Unlock()
		return id, secret, nil
	}
	if s.cache == nil {
		s.cache = map[string]cachedLookup{}
	}
	if len(s.cache) < 100000 {
		s.cache[accessKeyID] = cachedLookup{id: id, secret: secret}
	}
	s.cacheMu.Unlock()
	return id, secret, nil
}

func (s *Store) lookup(accessKeyID string) (cloud.Identity, string, error) {
	var (
		id     cloud.Identity
		secret string
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var rec keyRecord
		if err := getJSON(tx.Bucket(bucketKeys), accessKeyID, &rec); err != nil {
			return err
		}
		if rec.Status != "Active" {
			return fmt.Errorf("access key %s is inactive: %w", accessKeyID, errdefs.ErrNotFound)
		}
		var acct Account
		if err := getJSON(tx.Bucket(bucketAccounts), rec.AccountID, &acct); err != nil {
			return err
		}
		var err error
		if secret, err = s.seal.open(rec.Sealed, rec.ID); err != nil {
			return err
		}
		id = cloud.Identity{AccountID: acct.ID, CanonicalID: acct.CanonicalID, DisplayName: acct.Name, ARN: acct.RootARN(), UserID: acct.ID, AccessKeyID: rec.ID}
		if rec.UserName == "" {
			return nil
		}
		var u User
		if err := getJSON(tx.Bucket(bucketUsers), userKey(acct.ID, rec.UserName), &u); err != nil {
			return err
		}
		id.UserName, id.UserID, id.ARN = u.Name, u.ID, u.ARN()
		id.Policies = userPolicies(u)
		return nil
	})
	return id, secret, err
}

// userPolicies are the documents that apply to u: its inline policies, then its attached managed ones.
func userPolicies(u User) [][]byte {
	var docs [][]byte
	names := make([]string, 0, len(u.Inline))
	for n := range u.Inline {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		docs = append(docs, []byte(u.Inline[n]))
	}
	for _, arn := range u.Attached {
		if p, ok := Managed(arn); ok {
			docs = append(docs, []byte(p.Document))
		}
	}
	return docs
}

// FirstAccount returns the account created on first start; its root may create more accounts.
func (s *Store) FirstAccount(ctx context.Context) (Account, error) {
	var a Account
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketMeta).Get(metaFirstAccount)
		return getJSON(tx.Bucket(bucketAccounts), string(id), &a)
	})
	return a, err
}

// Account returns the account with the given ID.
func (s *Store) Account(ctx context.Context, id string) (Account, error) {
	var a Account
	err := s.db.View(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketAccounts), id, &a) })
	if errors.Is(err, errdefs.ErrNotFound) {
		return a, apiErr(errdefs.ErrNotFound, "The account with id %s cannot be found.", id)
	}
	return a, err
}

// CreateAccount creates an account named name with a root access key (whose secret is returned once).
func (s *Store) CreateAccount(ctx context.Context, name string) (Account, AccessKey, error) {
	if !namePattern.MatchString(name) || len(name) > 64 {
		return Account{}, AccessKey{}, validation(name, "accountName", `[\w+=,.@-]+`, 64)
	}
	var (
		acct Account
		key  AccessKey
	)
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if acct, err = s.createAccountTx(tx, name); err != nil {
			return err
		}
		key, err = s.createKeyTx(tx, acct.ID, "", false)
		return err
	})
	return acct, key, err
}

// ListAccounts lists every account, the first one first.
func (s *Store) ListAccounts(ctx context.Context) ([]Account, error) {
	var out []Account
	err := s.db.View(func(tx *bolt.Tx) error {
		first := string(tx.Bucket(bucketMeta).Get(metaFirstAccount))
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			var a Account
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if a.ID == first {
				out = append([]Account{a}, out...)
			} else {
				out = append(out, a)
			}
			return nil
		})
	})
	return out, err
}

func (s *Store) createAccountTx(tx *bolt.Tx, name string) (Account, error) {
	accts := tx.Bucket(bucketAccounts)
	dup := false
	_ = accts.ForEach(func(_, v []byte) error {
		var a Account
		if json.Unmarshal(v, &a) == nil && strings.EqualFold(a.Name, name) {
			dup = true
		}
		return nil
	})
	if dup {
		return Account{}, apiErr(errdefs.ErrAlreadyExists, "Account with name %s already exists.", name)
	}
	var a Account
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(1e12))
		if err != nil {
			return a, err
		}
		a.ID = fmt.Sprintf("%012d", n)
		if accts.Get([]byte(a.ID)) == nil {
			break
		}
	}
	var c [32]byte
	if _, err := rand.Read(c[:]); err != nil {
		return a, err
	}
	a.CanonicalID, a.Name, a.Created = hex.EncodeToString(c[:]), name, s.now().UTC().Truncate(time.Second)
	return a, putJSON(accts, a.ID, a)
}

// Identifier alphabets: IAM's unique IDs and access key IDs are upper-case base32 after a four-letter prefix.
const (
	idAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func randomString(alphabet string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)] // both alphabets divide 256: no bias
	}
	return string(b), nil
}

func (s *Store) createKeyTx(tx *bolt.Tx, account, userName string, checkLimit bool) (AccessKey, error) {
	keys := tx.Bucket(bucketKeys)
	if checkLimit {
		n := 0
		_ = keys.ForEach(func(_, v []byte) error {
			var r keyRecord
			if json.Unmarshal(v, &r) == nil && r.AccountID == account && r.UserName == userName && !r.FromConfig {
				n++
			}
			return nil
		})
		if n >= maxKeysPerUser {
			return AccessKey{}, apiErr(errdefs.ErrResourceExhausted, "Cannot exceed quota for AccessKeysPerUser: %d", maxKeysPerUser)
		}
	}
	var k AccessKey
	for {
		suffix, err := randomString(idAlphabet, 16)
		if err != nil {
			return k, err
		}
		k.ID = "AKIA" + suffix
		if keys.Get([]byte(k.ID)) == nil {
			break
		}
	}
	secret, err := randomString(secretAlphabet, 40)
	if err != nil {
		return k, err
	}
	sealed, err := s.seal.seal(secret, k.ID)
	if err != nil {
		return k, err
	}
	k.AccountID, k.UserName, k.Status, k.Created, k.Secret = account, userName, "Active", s.now().UTC().Truncate(time.Second), secret
	return k, putJSON(keys, k.ID, keyRecord{ID: k.ID, AccountID: account, UserName: userName, Status: "Active", Created: k.Created, Sealed: sealed})
}

// Names: IAM user and policy names.
var namePattern = regexp.MustCompile(`^[\w+=,.@-]+$`)

func userKey(account, name string) string { return account + "/" + strings.ToLower(name) }

func validation(value, member, pattern string, max int) error {
	if value == "" {
		return apiErr(errdefs.ErrInvalidArgument, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	if len(value) > max {
		return apiErr(errdefs.ErrInvalidArgument, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", value, member, max)
	}
	return apiErr(errdefs.ErrInvalidArgument, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", value, member, pattern)
}

func checkName(value, member string, max int) error {
	if value == "" || len(value) > max || !namePattern.MatchString(value) {
		return validation(value, member, `[\w+=,.@-]+`, max)
	}
	return nil
}

func checkPath(p string) error {
	if p == "/" {
		return nil
	}
	if len(p) > 512 || !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return validation(p, "path", `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`, 512)
	}
	return nil
}

// CreateUser creates an IAM user in account.
func (s *Store) CreateUser(ctx context.Context, account, name, path string) (User, error) {
	if path == "" {
		path = "/"
	}
	if err := checkName(name, "userName", 64); err != nil {
		return User{}, err
	}
	if err := checkPath(path); err != nil {
		return User{}, err
	}
	u := User{AccountID: account, Name: name, Path: path, Created: s.now().UTC().Truncate(time.Second)}
	suffix, err := randomString(idAlphabet, 17)
	if err != nil {
		return User{}, err
	}
	u.ID = "AIDA" + suffix
	err = s.update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(userKey(account, name))) != nil {
			return apiErr(errdefs.ErrAlreadyExists, "User with name %s already exists.", name)
		}
		return putJSON(users, userKey(account, name), u)
	})
	return u, err
}

func noSuchUser(name string) error {
	return apiErr(errdefs.ErrNotFound, "The user with name %s cannot be found.", name)
}

func (s *Store) getUserTx(tx *bolt.Tx, account, name string) (User, error) {
	var u User
	if err := getJSON(tx.Bucket(bucketUsers), userKey(account, name), &u); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return u, noSuchUser(name)
		}
		return u, err
	}
	return u, nil
}

// GetUser returns the named user of account.
func (s *Store) GetUser(ctx context.Context, account, name string) (User, error) {
	var u User
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		u, err = s.getUserTx(tx, account, name)
		return err
	})
	return u, err
}

// ListUsers lists account's users whose path starts with pathPrefix, by name.
func (s *Store) ListUsers(ctx context.Context, account, pathPrefix string) ([]User, error) {
	var out []User
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsers).Cursor()
		prefix := []byte(account + "/")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			if strings.HasPrefix(u.Path, pathPrefix) {
				out = append(out, u)
			}
		}
		return nil
	})
	return out, err
}

// DeleteUser deletes a user that has no access keys and no policies left, as IAM requires.
func (s *Store) DeleteUser(ctx context.Context, account, name string) error {
	return s.update(func(tx *bolt.Tx) error {
		u, err := s.getUserTx(tx, account, name)
		if err != nil {
			return err
		}
		hasKeys := false
		_ = tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			var r keyRecord
			if json.Unmarshal(v, &r) == nil && r.AccountID == account && strings.EqualFold(r.UserName, u.Name) {
				hasKeys = true
			}
			return nil
		})
		switch {
		case hasKeys:
			return apiErr(errdefs.ErrFailedPrecondition, "Cannot delete entity, must delete access keys first.")
		case len(u.Inline) > 0:
			return apiErr(errdefs.ErrFailedPrecondition, "Cannot delete entity, must delete policies first.")
		case len(u.Attached) > 0:
			return apiErr(errdefs.ErrFailedPrecondition, "Cannot delete entity, must detach all policies first.")
		}
		return tx.Bucket(bucketUsers).Delete([]byte(userKey(account, name)))
	})
}

// CreateAccessKey creates an access key for userName in account, or for the account's root when userName is "".
func (s *Store) CreateAccessKey(ctx context.Context, account, userName string) (AccessKey, error) {
	var k AccessKey
	err := s.update(func(tx *bolt.Tx) error {
		if userName != "" {
			u, err := s.getUserTx(tx, account, userName)
			if err != nil {
				return err
			}
			userName = u.Name
		}
		var err error
		k, err = s.createKeyTx(tx, account, userName, true)
		return err
	})
	return k, err
}

// ListAccessKeys lists the keys of userName (or of the root when ""), without secrets.
func (s *Store) ListAccessKeys(ctx context.Context, account, userName string) ([]AccessKey, error) {
	var out []AccessKey
	err := s.db.View(func(tx *bolt.Tx) error {
		if userName != "" {
			u, err := s.getUserTx(tx, account, userName)
			if err != nil {
				return err
			}
			userName = u.Name
		}
		return tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			var r keyRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.AccountID == account && r.UserName == userName {
				out = append(out, AccessKey{ID: r.ID, AccountID: r.AccountID, UserName: r.UserName, Status: r.Status, Created: r.Created})
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

func (s *Store) keyOf(tx *bolt.Tx, account, userName, id string) (keyRecord, error) {
	var r keyRecord
	if userName != "" {
		u, err := s.getUserTx(tx, account, userName)
		if err != nil {
			return r, err
		}
		userName = u.Name
	}
	err := getJSON(tx.Bucket(bucketKeys), id, &r)
	if errors.Is(err, errdefs.ErrNotFound) || (err == nil && (r.AccountID != account || r.UserName != userName)) {
		return r, apiErr(errdefs.ErrNotFound, "The Access Key with id %s cannot be found.", id)
	}
	return r, err
}

// UpdateAccessKey sets a key's status to Active or Inactive.
func (s *Store) UpdateAccessKey(ctx context.Context, account, userName, id, status string) error {
	if status != "Active" && status != "Inactive" {
		return apiErr(errdefs.ErrInvalidArgument, "1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	return s.update(func(tx *bolt.Tx) error {
		r, err := s.keyOf(tx, account, userName, id)
		if err != nil {
			return err
		}
		r.Status = status
		return putJSON(tx.Bucket(bucketKeys), r.ID, r)
	})
}

// DeleteAccessKey deletes a key.
func (s *Store) DeleteAccessKey(ctx context.Context, account, userName, id string) error {
	return s.update(func(tx *bolt.Tx) error {
		r, err := s.keyOf(tx, account, userName, id)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketKeys).Delete([]byte(r.ID))
	})
}

// updateUser applies fn to a user in one transaction.
func (s *Store) updateUser(account, name string, fn func(*User) error) error {
	return s.update(func(tx *bolt.Tx) error {
		u, err := s.getUserTx(tx, account, name)
		if err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketUsers), userKey(account, name), u)
	})
}

// PutUserPolicy adds or replaces an inline policy; the document must be a valid identity policy.
func (s *Store) PutUserPolicy(ctx context.Context, account, userName, policyName, doc string) error {
	if err := checkName(policyName, "policyName", 128); err != nil {
		return err
	}
	if _, err := policy.Parse([]byte(doc), policy.Identity); err != nil {
		return err
	}
	if n := len(strings.Join(strings.Fields(doc), "")); n > maxInlinePolicy {
		return apiErr(errdefs.ErrResourceExhausted, "Maximum policy size of %d bytes exceeded for user %s", maxInlinePolicy, userName)
	}
	return s.updateUser(account, userName, func(u *User) error {
		if u.Inline == nil {
			u.Inline = map[string]string{}
		}
		u.Inline[policyName] = doc
		return nil
	})
}

func noSuchPolicy(user, name string) error {
	return apiErr(errdefs.ErrNotFound, "The user policy with name %s cannot be found.", name)
}

// GetUserPolicy returns an inline policy's document.
func (s *Store) GetUserPolicy(ctx context.Context, account, userName, policyName string) (string, error) {
	u, err := s.GetUser(ctx, account, userName)
	if err != nil {
		return "", err
	}
	doc, ok := u.Inline[policyName]
	if !ok {
		return "", noSuchPolicy(userName, policyName)
	}
	return doc, nil
}

// ListUserPolicies lists a user's inline policy names, sorted.
func (s *Store) ListUserPolicies(ctx context.Context, account, userName string) ([]string, error) {
	u, err := s.GetUser(ctx, account, userName)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(u.Inline))
	for n := range u.Inline {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// DeleteUserPolicy deletes an inline policy.
func (s *Store) DeleteUserPolicy(ctx context.Context, account, userName, policyName string) error {
	return s.updateUser(account, userName, func(u *User) error {
		if _, ok := u.Inline[policyName]; !ok {
			return noSuchPolicy(userName, policyName)
		}
		delete(u.Inline, policyName)
		return nil
	})
}

// AttachUserPolicy attaches an AWS-managed policy (by ARN); attaching one twice is not an error, as in IAM.
func (s *Store) AttachUserPolicy(ctx context.Context, account, userName, arn string) error {
	p, ok := Managed(arn)
	if !ok || !strings.HasPrefix(arn, managedPrefix) {
		if !strings.HasPrefix(arn, "arn:") {
			return apiErr(errdefs.ErrInvalidArgument, "ARN %s is not valid.", arn)
		}
		return apiErr(errdefs.ErrNotFound, "Policy %s does not exist or is not attachable.", arn)
	}
	return s.updateUser(account, userName, func(u *User) error {
		for _, a := range u.Attached {
			if a == p.ARN() {
				return nil
			}
		}
		if len(u.Attached) >= maxAttachedPerUser {
			return apiErr(errdefs.ErrResourceExhausted, "Cannot exceed quota for PoliciesPerUser: %d", maxAttachedPerUser)
		}
		u.Attached = append(u.Attached, p.ARN())
		return nil
	})
}

// DetachUserPolicy detaches a managed policy.
func (s *Store) DetachUserPolicy(ctx context.Context, account, userName, arn string) error {
	return s.updateUser(account, userName, func(u *User) error {
		for i, a := range u.Attached {
			if a == arn {
				u.Attached = append(u.Attached[:i], u.Attached[i+1:]...)
				return nil
			}
		}
		return apiErr(errdefs.ErrNotFound, "Policy %s was not found.", arn)
	})
}

func getJSON(b *bolt.Bucket, key string, v any) error {
	data := b.Get([]byte(key))
	if data == nil {
		return fmt.Errorf("%q: %w", key, errdefs.ErrNotFound)
	}
	return json.Unmarshal(data, v)
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

// Error is a store error worded as IAM words it; it wraps an errdefs category.
type Error struct {
	msg string
	cat error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.cat }

func apiErr(cat error, format string, args ...any) error {
	return &Error{msg: fmt.Sprintf(format, args...), cat: cat}
}
