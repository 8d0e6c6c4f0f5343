package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/objectstore"
)

// Cloud is the state behind a cloud endpoint (the AWS-style endpoint of `--cloud-addr` and of `berth s3
// serve`): the accounts, users and keys that sign its requests, and the object store S3 serves. Other services
// of the endpoint (EC2's) keep their state elsewhere and reach the identities through Identities.
type Cloud struct {
	Identities *iam.Store
	Objects    *objectstore.Store
}

// CloudConfig says where a Cloud lives and who its first account's root is.
type CloudConfig struct {
	// Dir holds iam.db, iam.key, root-credentials (generated root keys) and objects/.
	Dir string
	// RootAccessKeyID and RootSecretAccessKey are the first account's root key (BERTH_ROOT_ACCESS_KEY_ID and
	// BERTH_ROOT_SECRET_ACCESS_KEY); both empty, one is generated on first start into Dir/root-credentials.
	RootAccessKeyID, RootSecretAccessKey string
	Logger                               *slog.Logger
}

// OpenCloud opens (creating on first start) the identities and the object store under cfg.Dir. A directory
// `berth s3 serve` used can be the daemon's <data-root>/cloud and back: the layout is the same.
func OpenCloud(cfg CloudConfig) (*Cloud, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	opts := []iam.Option{iam.WithLogger(log)}
	if cfg.RootAccessKeyID != "" || cfg.RootSecretAccessKey != "" {
		opts = append(opts, iam.WithRootCredentials(cfg.RootAccessKeyID, cfg.RootSecretAccessKey))
	}
	ids, err := iam.Open(cfg.Dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloud accounts in %s: %w", cfg.Dir, err)
	}
	objects, err := objectstore.Open(filepath.Join(cfg.Dir, "objects"), objectstore.WithLogger(log))
	if err != nil {
		ids.Close()
		return nil, fmt.Errorf("object store in %s: %w", cfg.Dir, err)
	}
	return &Cloud{Identities: ids, Objects: objects}, nil
}

// Close closes both stores. The endpoint serving them must have stopped first.
func (c *Cloud) Close() error {
	return errors.Join(c.Objects.Close(), c.Identities.Close())
}

// Cloud is the state of the daemon's cloud endpoint, under <data-root>/cloud; nil unless CloudAddr is set.
func (d *Daemon) Cloud() *Cloud { return d.cloud }
